"""One LuaRuntime, reused run after run by one thread.

Creating a runtime and loading the sandbox costs about a millisecond, so a
worker keeps its runtime and its compiled chunks (per path, mtime and size) and
builds only a fresh environment per run. A chunk is compiled once; each run
points its _ENV upvalue at that run's environment.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

from lupa.lua54 import LuaError, LuaRuntime

from sloth_tui.lua.context import RunContext
from sloth_tui.lua.convert import jsonable, loads, position
from sloth_tui.lua.host import HostAPI
from sloth_tui.lua.limits import CHECK_EVERY, MAX_FILE_BYTES, Limits, describe
from sloth_tui.model.records import Event, Execution, Hook

# The privileged Lua, in load order: each module gets the ones before it.
_LUA = {
    name: resources.files("sloth_tui.lua").joinpath(f"{name}.lua").read_text("utf-8")
    for name in ("encode", "guard", "api", "patterns", "sandbox")
}

MAX_CHUNKS = 256  # compiled hook files kept per runtime
GC_ABOVE = 8 * 1024 * 1024  # after a run that left this much heap, collect now


def _deny(obj: Any, name: Any, is_setting: bool) -> Any:
    raise AttributeError("access to Python attributes is not allowed")


def chunk_name(hook: Hook) -> str:
    """What error messages start with: the file's basename, e.g. `deploy_alert.lua`."""
    return os.path.basename(hook.file) if hook.file else f"{hook.name}.lua"


class Worker:
    """Not thread-safe: owned by one thread at a time (see WorkerPool)."""

    def __init__(self, memory: int) -> None:
        self.lua = LuaRuntime(
            register_eval=False,
            register_builtins=False,
            attribute_filter=_deny,
            unpack_returned_tuples=True,
            max_memory=memory,
        )
        self.memory = memory
        self.broken = False  # set when the runtime itself failed; the pool drops it
        self.ctx: RunContext | None = None
        bridge = self.lua.table_from(
            {
                "log": self._bridge("log", lambda msg: None),
                "http": self._bridge("http_call", lambda msg: (None, f"http: {msg}", None)),
                "dispatch": self._bridge("dispatch", lambda msg: (None, f"dispatch: {msg}")),
                "state": self._bridge("state", lambda msg: (False, msg)),
                "json_decode": self._bridge(
                    "json_decode", lambda msg: (None, f"json.decode: {msg}")
                ),
            }
        )
        lua = self.lua.execute
        enc = lua(_LUA["encode"], name="=encode", mode="t")
        guard = lua(_LUA["guard"], time.monotonic, CHECK_EVERY, name="=guard", mode="t")
        api = lua(_LUA["api"], bridge, enc, guard, name="=api", mode="t")
        natives = lua("return string.find, string.match, string.gmatch, string.gsub")
        patterns = lua(_LUA["patterns"], *natives, name="=patterns", mode="t")
        sandbox = lua(
            _LUA["sandbox"], enc, guard, api, patterns, time.monotonic, name="=sandbox", mode="t"
        )
        self._run = sandbox["run"]
        self._compile = sandbox["compile"]
        self.bench_env = sandbox["bench_env"]
        self._chunks: dict[tuple[str, int, int], tuple[Any, str | None]] = {}

    def http_call(self, *args: Any) -> Any:
        """RunContext.http, once the host has durably noted that this real run calls out
        (its `http_started`, when the host has one): http is the one effect a crash
        cannot take back. A run whose note cannot be stored sends nothing."""
        ctx = self.ctx
        assert ctx is not None
        started = getattr(ctx.host, "http_started", None)
        if started is not None and not ctx.dry_run:
            try:
                started()
            except Exception as exc:
                method, url = args[0], args[1]
                return None, f"http.{str(method).lower()} {url}: not sent: {exc}", None
        return ctx.http(*args)

    def _bridge(self, method: str, failure: Callable[[str], Any]) -> Callable[..., Any]:
        """A RunContext method as Lua sees it. It must never raise: lupa would hand the
        exception to Lua as a userdata, i.e. a Python object inside the sandbox."""

        def call(*args: Any) -> Any:
            try:
                target = self if method == "http_call" else self.ctx
                return getattr(target, method)(*args)
            except Exception as exc:
                return failure(f"internal error: {type(exc).__name__}: {exc}")

        return call

    # -- compiling -------------------------------------------------------------------
    def compile(self, text: str, name: str) -> tuple[Any, str | None]:
        """(chunk, None) or (None, "name:line: message")."""
        try:
            out = self._compile(text, name)
        except LuaError as exc:  # e.g. out of memory while parsing a huge file
            return None, f"{name}: cannot compile: {exc}"
        if isinstance(out, tuple):
            return None, str(out[1])
        return out, None

    def _chunk(self, hook: Hook, code: str | None, name: str) -> tuple[Any, str | None]:
        if code is not None:
            return self.compile(code, name)
        path = hook.file
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None, f"hook file not found: {path}"
        except OSError as exc:
            return None, f"cannot read hook file {path}: {exc.strerror or exc}"
        key = (path, st.st_mtime_ns, st.st_size)
        cached = self._chunks.get(key)
        if cached is not None:
            return cached
        if st.st_size > MAX_FILE_BYTES:
            return None, f"hook file too large: {st.st_size} bytes (limit {MAX_FILE_BYTES})"
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError as exc:
            return None, f"cannot read hook file {path}: {exc.strerror or exc}"
        cached = self.compile(text, name)  # syntax errors are cached too: same file, same error
        if len(self._chunks) >= MAX_CHUNKS:
            del self._chunks[next(iter(self._chunks))]
        self._chunks[key] = cached
        return cached

    # -- running ---------------------------------------------------------------------
    def run(
        self,
        host: HostAPI,
        hook: Hook,
        event: Event,
        limits: Limits,
        *,
        dry_run: bool = False,
        code: str | None = None,
        mode: str = "run",
        redelivered: bool = False,
    ) -> Execution:
        started = time.time()
        t0 = time.perf_counter()
        timeout = hook.timeout if hook.timeout > 0 else limits.timeout
        deadline = time.monotonic() + timeout
        exe = Execution(
            hook.name, event.id, "error", started, dry_run=dry_run, event_type=event.type
        )
        name = chunk_name(hook)
        chunk, err = self._chunk(hook, code, name)
        if chunk is None:
            exe.error, exe.error_line = position(err or "cannot load hook", None, name)
            exe.duration_ms = (time.perf_counter() - t0) * 1000
            return exe
        if limits.memory != self.memory:
            self.lua.set_max_memory(limits.memory)
            self.memory = limits.memory
        ctx = RunContext(
            self.lua, host, hook.name, event, dry_run=dry_run, deadline=deadline,
            http_body_cap=limits.http_body_cap, host_memory=limits.host_memory,
            logs=exe.logs, calls=exe.calls,
        )  # fmt: skip
        self.ctx = ctx
        try:
            data = self._event_data(event.data)
            out = self._run(
                chunk, mode, "=" + name, event.type, event.id, event.ts, event.source, data,
                event.category, event.parent_id, event.depth, deadline, limits.instructions,
                redelivered,
            )  # fmt: skip
        except Exception as exc:  # the runtime itself failed: report it, replace the runtime
            self.broken = True
            out = ("error", f"hook runtime failure: {exc}", None)
        finally:
            self.ctx = None
        ctx.close()
        self._settle(exe, out, name, limits, timeout)
        if not self.broken and self.lua.get_memory_used() > GC_ABOVE:
            self.lua.gccollect()  # give a big run's garbage back now, not during the next run
        exe.duration_ms = (time.perf_counter() - t0) * 1000
        return exe

    def _event_data(self, data: dict[str, Any]) -> Any:
        if not isinstance(data, dict):
            data = {}
        return self.lua.table_from(jsonable(data), recursive=True)

    @staticmethod
    def _settle(exe: Execution, out: Any, name: str, limits: Limits, timeout: float) -> None:
        out = (*out, None, None, None) if isinstance(out, tuple) else (out, None, None, None)
        kind = out[0]
        if kind in ("success", "failed"):
            value, is_json, message = out[1], out[2], out[3]
            exe.status = kind
            exe.result = loads(value) if is_json else value
            if kind == "failed" and message:
                exe.error = message
        elif kind == "limit":
            which, line = str(out[1]), out[2]
            exe.limit = which
            exe.status = "timeout" if which == "timeout" else "error"
            exe.error = describe(which, limits, timeout)
            if line is not None:
                exe.error, exe.error_line = f"{name}:{line}: {exe.error}", int(line)
        else:
            exe.status = "error"
            exe.error, exe.error_line = position(str(out[1]), out[2], name)


class WorkerPool:
    """Workers per thread. A thread takes a free one or makes one; a run nested in a
    host call on the same thread (a synchronous dispatch) gets a second worker."""

    def __init__(self, memory: int) -> None:
        self._memory = memory
        self._local = threading.local()

    def acquire(self) -> Worker:
        free: list[Worker] | None = getattr(self._local, "free", None)
        if free is None:
            free = self._local.free = []
        return free.pop() if free else Worker(self._memory)

    def release(self, worker: Worker) -> None:
        if not worker.broken:
            self._local.free.append(worker)
