"""The hook runtime the engine calls: run a hook on an event, in a Lua 5.4 sandbox.

    runtime = HookRuntime(host, Limits(timeout=10))
    execution = runtime.run(hook, event)              # from a worker thread
    execution = runtime.run(hook, event, dry_run=True, code=buffer_text)

Thread-safe: each thread runs hooks in its own LuaRuntime (lupa releases the
GIL while Lua runs), so size the caller's thread pool for the concurrency you
want; every thread keeps one runtime (~200 KiB plus compiled chunks).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any

from sloth_tui.lua.host import HostAPI
from sloth_tui.lua.limits import Limits
from sloth_tui.lua.worker import ManyRun, Touch, WorkerPool
from sloth_tui.model.records import Event, Execution, Hook

__all__ = [
    "HookRuntime",
    "Limits",
    "bench_trivial_runs",
    "check_syntax",
    "declared_event_types",
    "sandbox_build_cost_us",
    "sandbox_globals",
]

DEFAULT_LIMITS = Limits()  # frozen, so safe to share as a default
DECLARE_TIMEOUT = 1.0  # running a file's top level to read event_types
DECLARE_INSTRUCTIONS = 10_000_000


class HookRuntime:
    """Thread-safe: run() may be called from many worker threads at once; each thread
    uses its own LuaRuntime."""

    def __init__(self, host: HostAPI, default_limits: Limits = DEFAULT_LIMITS) -> None:
        self.host = host
        self.limits = default_limits
        self._pool = WorkerPool(default_limits.memory)

    def run(
        self,
        hook: Hook,
        event: Event,
        *,
        dry_run: bool = False,
        code: str | None = None,
        limits: Limits | None = None,
        host: HostAPI | None = None,
        redelivered: bool = False,
    ) -> Execution:
        """Run `hook` against `event`; `code`, when given, runs instead of the file.

        Never raises for anything a hook does: a missing file, a syntax error, a
        runtime error or a tripped limit is an Execution. The deadline is
        hook.timeout (limits.timeout when that is not positive); `limits`
        overrides this runtime's defaults for instructions, memory and body cap.
        `host`, when given, answers this run instead of the runtime's host (the
        engine's per-run buffer); `redelivered` is what the hook reads in
        event.redelivered (a rerun after a crash that followed an http call).
        """
        try:
            # Building a worker loads every host module's wrapper: one that cannot
            # load fails here, and the run is recorded as failed like any other bug.
            worker = self._pool.acquire()
        except Exception as exc:
            return _failed(hook, event, dry_run, exc)
        try:
            return worker.run(
                host or self.host, hook, event, limits or self.limits, dry_run=dry_run,
                code=code, redelivered=redelivered,
            )  # fmt: skip
        except Exception as exc:  # a bug here must still end in a record, not a crash
            worker.broken = True
            return _failed(hook, event, dry_run, exc)
        finally:
            self._pool.release(worker)

    def run_many(self, runs: Sequence[ManyRun], touch: Touch) -> list[Execution]:
        """Real runs of hook files (no code, no dry run), several per Lua call: the
        executions of a prefix of `runs`, at least one (Worker.run_many says which).
        `touch(i)` gives run i its HostAPI at its first host call. Never raises."""
        try:
            worker = self._pool.acquire()
        except Exception as exc:
            hook, event, _limits, _redelivered = runs[0]
            return [_failed(hook, event, False, exc)]
        try:
            return worker.run_many(runs, touch)
        except Exception as exc:  # a bug here must still end in a record, not a crash
            worker.broken = True
            hook, event, _limits, _redelivered = runs[0]
            return [_failed(hook, event, False, exc)]
        finally:
            self._pool.release(worker)


def _failed(hook: Hook, event: Event, dry_run: bool, exc: Exception) -> Execution:
    return Execution(
        hook.name,
        event.id,
        "error",
        time.time(),
        error=f"hook runtime failure: {exc}",
        dry_run=dry_run,
        event_type=event.type,
    )


class _NullHost:
    """For runs that must not touch anything: declared_event_types and benchmarks."""

    def dispatch(self, type: str, data: dict[str, Any], *, parent: Event, source: str) -> int:
        return 0

    def state_get(self, hook: str, key: str) -> Any:
        return None

    def state_set(self, hook: str, key: str, value: Any) -> None:
        return None

    def state_delete(self, hook: str, key: str) -> None:
        return None

    def state_incr(self, hook: str, key: str, by: float) -> float:
        return by


_tools = WorkerPool(Limits().memory)


def check_syntax(code: str, chunkname: str = "hook") -> tuple[int, str] | None:
    """Compile only (text mode, in a sandboxed runtime). None if OK, else (line, message).

    The message is Lua's own, position included: "hook:3: unexpected symbol near 'x'".
    """
    worker = _tools.acquire()
    try:
        _, err = worker.compile(code, chunkname)
    finally:
        _tools.release(worker)
    if err is None:
        return None
    prefix = f"{chunkname}:"
    digits = err[len(prefix) :].partition(":")[0] if err.startswith(prefix) else ""
    return (int(digits) if digits.isdigit() else 0), err


def declared_event_types(path: str) -> list[str]:
    """A table-style hook's `event_types`, from running the file's top level in the
    sandbox (short deadline, dry run, no host). [] for global-style files and errors."""
    hook = Hook(name=os.path.basename(path), events=[], file=path, timeout=DECLARE_TIMEOUT)
    event = Event(id=0, type="custom", category="custom", data={}, source="cli")
    limits = Limits(timeout=DECLARE_TIMEOUT, instructions=DECLARE_INSTRUCTIONS)
    worker = _tools.acquire()
    try:
        exe = worker.run(_NullHost(), hook, event, limits, dry_run=True, mode="declare")
    finally:
        _tools.release(worker)
    if exe.status != "success" or not isinstance(exe.result, list):
        return []
    return [t for t in exe.result if isinstance(t, str) and t]


def sandbox_globals() -> list[str]:
    """The globals a hook starts with, sorted: the sandbox's own and the registered
    host modules' (lua/modules)."""
    worker = _tools.acquire()
    try:
        return worker.env_names()
    finally:
        _tools.release(worker)


# -- measurement helpers for `sloth-tui bench` --------------------------------------

_SAMPLE_DATA = {
    "deploy_id": "deploy-12345",
    "service": "api-server",
    "error": "health check failed",
    "rollback_needed": True,
}


def sandbox_build_cost_us(n: int = 5000) -> float:
    """Microseconds to build one run's sandbox (fresh environment + event table)."""
    worker = _tools.acquire()
    try:
        data = worker.lua.table_from(_SAMPLE_DATA)
        worker.bench_env(100, data)  # warm up
        return float(worker.bench_env(n, data)) / n * 1e6
    finally:
        _tools.release(worker)


def bench_trivial_runs(n: int = 20_000, threads: int = 1) -> float:
    """Trivial executions per second (`function on_event() return true end`), whole
    run() path included, spread over `threads` threads."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trivial.lua")
        with open(path, "w") as fh:
            fh.write("function on_event() return true end\n")
        runtime = HookRuntime(_NullHost())
        hook = Hook(name="trivial", events=["*"], file=path)
        event = Event(id=1, type="deploy.failed", category="deploy", data=dict(_SAMPLE_DATA))
        per_thread = max(1, n // threads)
        barrier = threading.Barrier(threads + 1)

        def work() -> None:
            runtime.run(hook, event)  # make this thread's runtime before the clock starts
            barrier.wait()
            for _ in range(per_thread):
                runtime.run(hook, event)

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for t in workers:
            t.start()
        barrier.wait()
        start = time.perf_counter()
        for t in workers:
            t.join()
        return per_thread * threads / (time.perf_counter() - start)
