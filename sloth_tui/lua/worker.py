"""One LuaRuntime, reused run after run by one thread.

Creating a runtime and loading the sandbox costs about a millisecond, so a
worker keeps its runtime and its compiled chunks (per path, mtime and size) and
builds only a fresh environment per run. A chunk is compiled once; each run
points its _ENV upvalue at that run's environment.

The host modules (modules/) are wired here, once per worker: one bridge table of
Python calls per module, its Lua wrapper loaded with it, and the sandbox given the
list to build its environment from.
"""

from __future__ import annotations

import functools
import math
import os
import stat
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

from lupa.lua54 import LuaError, LuaRuntime

from sloth_tui.lua import modules as registry
from sloth_tui.lua.context import RunContext
from sloth_tui.lua.convert import jsonable, loads, position
from sloth_tui.lua.host import HostAPI
from sloth_tui.lua.limits import CHECK_EVERY, MAX_FILE_BYTES, Limits, describe
from sloth_tui.lua.modules.base import KIT, Handler, HostModule
from sloth_tui.lua.redact import redact_execution
from sloth_tui.model.records import Event, Execution, Hook

# The privileged Lua, in load order: each one gets the ones before it (the host
# modules' wrappers load after kit, before patterns).
_LUA = {
    name: resources.files("sloth_tui.lua").joinpath(f"{name}.lua").read_text("utf-8")
    for name in ("encode", "guard", "patterns", "sandbox")
}

MAX_CHUNKS = 256  # compiled hook files kept per runtime
FILES_FRESH = 0.005  # seconds a batch's runs reuse a look at a hook file
GC_ABOVE = 8 * 1024 * 1024  # after a run that left this much heap, collect now


class CancelToken:
    """A run's cancel switch (mode restart, engine/policy_gate.py): set from another
    thread, read by the run's guard at its next instruction check (every CHECK_EVERY
    instructions), where it trips like a deadline. A run blocked in a host call (an
    http request) does not see it: it ends at its own deadline, as before."""

    __slots__ = ("cancelled", "reason")

    def __init__(self) -> None:
        self.cancelled = False
        self.reason = ""

    def cancel(self, reason: str) -> None:
        self.reason = reason
        self.cancelled = True  # last: a reader that sees it set sees the reason too


class _ThisThread(threading.local):
    """Per thread, what the layers between the dispatcher and the worker need not carry.
    Class attributes are the defaults: reading one costs an attribute lookup, where
    getattr(local, name, default) on an unset name raised and caught (0.7 µs a run)."""

    token: CancelToken | None = None  # the next Worker.run's (cancel_next_run)
    batch: object | None = None  # the current batch of runs (files_checked_per_batch)


_this_thread = _ThisThread()


def cancel_next_run(token: CancelToken | None) -> None:
    """In a pool thread, just before a run: that run can be cancelled with `token`."""
    _this_thread.token = token


def files_checked_per_batch(batch: object | None) -> None:
    """In a pool thread: until the next call, runs on this thread look at each hook file
    once per `batch` (any object; None: before every run, the default), and again once
    that look is FILES_FRESH old.

    A hook file is checked (stat, and a read when it changed) before a run: 2.5 µs, a
    tenth of a trivial run. The dispatcher hands a thread its runs in batches, all taken
    from the queue at once: quick runs see the file as it was when the batch began, as
    if they had run at that instant. A file saved before a batch begins is always seen
    by it, and a batch of slow runs looks again between them."""
    _this_thread.batch = batch


def _deny(obj: Any, name: Any, is_setting: bool) -> Any:
    raise AttributeError("access to Python attributes is not allowed")


def chunk_name(hook: Hook) -> str:
    """What error messages start with: the file's basename, e.g. `deploy_alert.lua`."""
    return _basename(hook.file) if hook.file else f"{hook.name}.lua"


_basename = functools.lru_cache(maxsize=MAX_CHUNKS)(os.path.basename)  # once per file


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
        self._token: CancelToken | None = None  # the current run's, when it can be cancelled
        lua = self.lua.execute
        enc = lua(_LUA["encode"], name="=encode", mode="t")
        guard = lua(_LUA["guard"], self._clock(), CHECK_EVERY, name="=guard", mode="t")
        kit = lua(KIT, enc, guard, name="=kit", mode="t")
        self.generation, host_modules = registry.snapshot()
        loaded = self.lua.table_from([self._load(m, kit) for m in host_modules])
        natives = lua("return string.find, string.match, string.gmatch, string.gsub")
        patterns = lua(_LUA["patterns"], *natives, name="=patterns", mode="t")
        sandbox = lua(
            _LUA["sandbox"], enc, guard, loaded, patterns, time.monotonic, name="=sandbox",
            mode="t",
        )  # fmt: skip
        self._run = sandbox["run"]
        self._compile = sandbox["compile"]
        self.bench_env = sandbox["bench_env"]
        self._env_names = sandbox["env_names"]
        self._chunks: dict[tuple[str, int, int], tuple[Any, str | None]] = {}
        # This batch's look at each hook file (files_checked_per_batch): path -> chunk.
        self._looked: dict[str, tuple[Any, str | None]] = {}
        self._looked_in: object | None = None
        self._looked_until = 0.0
        # The run under way, for its RunContext: made at the run's first host call, since
        # most runs make none (_context).
        self._run_args: tuple[Any, ...] | None = None

    def _clock(self) -> Callable[[], float]:
        """The guard's `now`: the monotonic clock, or infinity once the run's token is
        cancelled, so the next check trips the run's deadline. The guard calls it once
        per CHECK_EVERY instructions: a Python call there costs nothing measurable."""
        monotonic = time.monotonic

        def now() -> float:
            token = self._token
            if token is not None and token.cancelled:
                return math.inf
            return monotonic()

        return now

    def _load(self, module: HostModule, kit: Any) -> Any:
        """{name, exports} for the sandbox: the module's wrapper, loaded with its bridge."""
        bridge = self.lua.table_from(
            {name: self._bridge(*fns) for name, fns in module.bridged().items()}
        )
        if module.lua is None:
            exports = kit["plain"](module.name, bridge)
        else:
            exports = self.lua.execute(
                module.lua, bridge, kit, name=f"=host:{module.name}", mode="t"
            )
        return self.lua.table_from({"name": module.name, "exports": exports})

    def _bridge(
        self, run: Handler, dry: Handler, failure: Callable[[str], Any]
    ) -> Callable[..., Any]:
        """A module's call as Lua sees it: the run's context first, the dry-run
        variant in a dry run. It must never raise: lupa would hand the exception to
        Lua as a userdata, i.e. a Python object inside the sandbox."""

        def call(*args: Any) -> Any:
            try:
                ctx = self.ctx or self._context()
                return (dry if ctx.dry_run else run)(ctx, *args)
            except Exception as exc:
                return failure(f"internal error: {type(exc).__name__}: {exc}")

        return call

    def _context(self) -> RunContext:
        """The run's RunContext, made at its first host call."""
        args = self._run_args
        assert args is not None, "a host call outside a run"
        host, hook, event, dry_run, deadline, limits, exe = args
        self.ctx = RunContext(
            self.lua, host, hook.name, event, dry_run=dry_run, deadline=deadline,
            limits=limits, logs=exe.logs, calls=exe.calls,
        )  # fmt: skip
        return self.ctx

    def env_names(self) -> list[str]:
        """The globals a hook's environment starts with (`event` included), sorted."""
        return sorted(str(name) for name in self._env_names().values())

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
        batch = _this_thread.batch
        if batch is None:
            return self._look(hook.file, name)
        now = time.monotonic()
        if batch is not self._looked_in or now > self._looked_until:
            self._looked_in = batch
            self._looked_until = now + FILES_FRESH
            self._looked = {}
        looked = self._looked.get(hook.file)
        if looked is None:
            looked = self._looked[hook.file] = self._look(hook.file, name)
        return looked

    def _look(self, path: str, name: str) -> tuple[Any, str | None]:
        """The file's compiled chunk, compiled again when it changed since (or its error)."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None, f"hook file not found: {path}"
        except OSError as exc:
            return None, f"cannot read hook file {path}: {exc.strerror or exc}"
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block this thread, /dev/zero never end
            return None, f"hook file is not a regular file: {path}"
        key = (path, st.st_mtime_ns, st.st_size)
        cached = self._chunks.get(key)
        if cached is not None:
            return cached
        if st.st_size > MAX_FILE_BYTES:
            return None, f"hook file too large: {st.st_size} bytes (limit {MAX_FILE_BYTES})"
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read(MAX_FILE_BYTES + 1)  # bounded even if it grew since the stat
        except OSError as exc:
            return None, f"cannot read hook file {path}: {exc.strerror or exc}"
        if len(text) > MAX_FILE_BYTES:
            return (
                None,
                f"hook file too large: over {MAX_FILE_BYTES} bytes (limit {MAX_FILE_BYTES})",
            )
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
        this_thread = _this_thread
        token = this_thread.token
        if token is not None:  # taken once: a run nested on this thread does not inherit it
            this_thread.token = None
        self._token = token
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
        self._run_args = host, hook, event, dry_run, deadline, limits, exe
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
            ctx = self.ctx
            self.ctx = self._run_args = self._token = None
        self._settle(exe, out, name, limits, timeout)
        if ctx is not None:  # it made host calls
            ctx.close()
            redact_execution(exe, ctx.scratch)  # secrets the run read leave as [secret:NAME]
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
    host call on the same thread (a synchronous dispatch) gets a second worker. A
    worker built before the host module registry last changed is dropped."""

    def __init__(self, memory: int) -> None:
        self._memory = memory
        self._local = threading.local()

    def acquire(self) -> Worker:
        free: list[Worker] | None = getattr(self._local, "free", None)
        if free is None:
            free = self._local.free = []
        current = registry.generation()
        while free:
            worker = free.pop()
            if worker.generation == current:
                return worker
        return Worker(self._memory)

    def release(self, worker: Worker) -> None:
        if not worker.broken:
            self._local.free.append(worker)
