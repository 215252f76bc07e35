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
from collections.abc import Callable, Sequence
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
# run_many stops adding runs to a call once their event data (all made before the call)
# fills this share of the Lua heap's limit: big events go one or a few per call.
HEAP_SHARE = 8
HEAP_MARGIN = 256 * 1024  # heap left under its limit before lupa is asked to call a run


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


# One run of Worker.run_many: (hook, event, limits, redelivered).
ManyRun = tuple[Hook, Event, Limits, bool]
# run_many's `touch(i)`: the HostAPI of run i, asked for at its first host call.
Touch = Callable[[int], HostAPI]


class _Call:
    """One Lua call of Worker.run_many, as its host calls and clock reads see it."""

    __slots__ = ("executions", "runs", "slots", "t0", "timeouts", "touch", "touched_at")

    def __init__(
        self,
        runs: Sequence[ManyRun],
        executions: list[Execution],
        slots: list[int],
        timeouts: list[float],
        touch: Touch,
        t0: float,
    ) -> None:
        self.runs = runs
        self.executions = executions
        self.slots = slots  # the run (index into runs) of each Lua slot
        self.timeouts = timeouts  # per slot
        self.touch = touch
        self.t0 = t0  # monotonic: where the slots' deadlines count from
        self.touched_at: float | None = None  # perf_counter at the first Python call


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
        self._run_many = sandbox["run_many"]
        # run_many's flags: [1] a run called Python, [2] the slot under way (sandbox.lua).
        # Read and set through Lua functions: lupa reads a table wrongly from Python in a
        # call that came from a coroutine (each hook runs in one), giving back a tuple.
        self._flags, self._slot_now, self._mark_called = lua(
            "local f = { false, 0 } "
            "return f, function() return f[2] end, function() f[1] = true end",
            name="=flags",
        )
        self._call: _Call | None = None  # run_many's call under way
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
            if self._call is not None:
                self._touched()
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
        call = self._call
        if call is not None:  # run_many: the slot under way, whose host touch() gives
            self._touched()
            slot = int(self._slot_now()) - 1
            index = call.slots[slot]
            hook, event, limits, _redelivered = call.runs[index]
            host, exe, dry_run = call.touch(index), call.executions[index], False
            deadline = call.t0 + call.timeouts[slot]
        else:
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
            if not self._room():  # the event's data alone fills the hook's heap
                del data
                self._run_args = self._token = None
                self._settle(exe, ("limit", "memory", None), name, limits, timeout)
                exe.duration_ms = (time.perf_counter() - t0) * 1000
                return exe
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

    def _touched(self) -> None:
        """A run of run_many's call called Python: the call ends after it (sandbox.lua)."""
        call = self._call
        if call is not None and call.touched_at is None:
            call.touched_at = time.perf_counter()
            self._mark_called()

    def run_many(self, runs: Sequence[ManyRun], touch: Touch) -> list[Execution]:
        """Real runs of hook files, in order, several in one Lua call: Python gives up the
        GIL once for them, not once per run (issue 19: with the loop busy, each run's
        hand-back of the GIL cost more than the run). Returns the executions of a prefix
        of `runs`, at least one: a call ends after a run that called Python (a host call
        or a clock read), so that the caller sees its time and can stop before the rest.
        `touch(i)` gives run i its HostAPI at its first host call.

        The runs that called nothing share the call's time: each ran under CHECK_EVERY
        instructions, and their deadlines count from the call's start. Runs with another
        Lua heap limit than the first end the prefix (the heap limit is the runtime's)."""
        p0, w0, t0 = time.perf_counter(), time.time(), time.monotonic()
        executions: list[Execution] = []
        slots: list[int] = []
        timeouts: list[float] = []
        names: list[str] = []
        args: list[Any] = []
        heap = self.lua.get_memory_used()
        for index, (hook, event, limits, redelivered) in enumerate(runs):
            if limits.memory != self.memory:
                if executions:
                    break
                self.lua.set_max_memory(limits.memory)
                self.memory = limits.memory
            exe = Execution(hook.name, event.id, "error", w0, event_type=event.type)
            executions.append(exe)
            name = chunk_name(hook)
            chunk, err = self._chunk(hook, None, name)
            if chunk is None:
                exe.error, exe.error_line = position(err or "cannot load hook", None, name)
                continue
            try:
                data = self._event_data(event.data)
            except Exception as exc:  # the runtime failed: as run() reports it
                if slots:  # the runs before it go first; it comes first in the next call
                    executions.pop()
                    break
                self.broken = True
                exe.error = f"hook runtime failure: {exc}"
                return executions
            if not self._room():
                del data
                if slots:  # the runs before it go first; it comes first in the next call
                    executions.pop()
                    break
                # Its data alone fills the hook's heap: a memory limit, as run() says.
                timeout = hook.timeout if hook.timeout > 0 else limits.timeout
                self._settle(exe, ("limit", "memory", None), name, limits, timeout)
                return executions
            timeout = hook.timeout if hook.timeout > 0 else limits.timeout
            slots.append(index)
            timeouts.append(timeout)
            names.append(name)
            args += (
                chunk, "=" + name, event.type, event.id, event.ts, event.source, data,
                event.category, event.parent_id, event.depth, timeout, limits.instructions,
                redelivered,
            )  # fmt: skip
            if self.lua.get_memory_used() - heap > self.memory // HEAP_SHARE:
                break  # big events: the call's data stays a small part of the heap
        if not slots:
            return executions
        call = self._call = _Call(runs, executions, slots, timeouts, touch, t0)
        try:
            # Each run's data is its own table (_event_data), made apart: one recursive
            # conversion of them all would give a dict met twice (two hooks, one event)
            # as an empty table the second time.
            out = self._run_many(self.lua.table_from(args), len(slots), t0, self._flags)
        except Exception as exc:  # the runtime itself failed: report it, replace the runtime
            self.broken = True
            out = (
                len(slots),
                *(("error", f"hook runtime failure: {exc}", None, None) * len(slots)),
            )
        finally:
            ctx = self.ctx
            self.ctx = self._call = None
        p1 = time.perf_counter()
        ran = int(out[0])
        touched_at = call.touched_at
        # Quick runs (no Python call) share the time up to the first call; the run that
        # made it takes the rest.
        quick = ran - 1 if touched_at is not None else ran
        share = ((touched_at or p1) - p0) / quick if quick else 0.0
        for slot in range(ran):
            index = slots[slot]
            exe = executions[index]
            hook, _event, limits, _redelivered = runs[index]
            if slot < quick:
                start, took = p0 + slot * share, share
            else:
                start = touched_at or p1
                took = p1 - start
            exe.started = w0 + (start - p0)
            exe.duration_ms = took * 1000
            base = 1 + 4 * slot
            self._settle(exe, out[base : base + 4], names[slot], limits, timeouts[slot])
        if ctx is not None:  # the last run made host calls
            last = executions[slots[ran - 1]]
            ctx.close()
            redact_execution(last, ctx.scratch)  # secrets the run read leave as [secret:NAME]
        if not self.broken and self.lua.get_memory_used() > GC_ABOVE:
            self.lua.gccollect()  # give big runs' garbage back now, not during the next ones
        return executions if ran == len(slots) else executions[: slots[ran - 1] + 1]

    def _event_data(self, data: dict[str, Any]) -> Any:
        """The event's data as a Lua table, made with the heap's limit lifted: lupa
        converts (and pushes a call's arguments) outside a protected call, where running
        out of heap aborts the whole process. A hook with --max-memory-mb 1 and an event
        of 20,000 keys did. The caller checks the heap has room left (_room) before any
        other call into Lua."""
        if not isinstance(data, dict):
            data = {}
        plain = jsonable(data)
        self.lua.set_max_memory(0)  # 0: none
        try:
            return self.lua.table_from(plain, recursive=True)
        finally:
            self.lua.set_max_memory(self.memory)

    def _room(self) -> bool:
        """The heap has HEAP_MARGIN left under its limit (after a collection if need be):
        enough for what lupa allocates unprotected to call a run."""
        used: int = self.lua.get_memory_used()
        if self.memory - used >= HEAP_MARGIN:
            return True
        self.lua.gccollect()
        used = self.lua.get_memory_used()
        return self.memory - used >= HEAP_MARGIN

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
