"""A hook's file must be a regular file: a FIFO would block a runner thread until some
writer came, and a device such as /dev/zero would be read without end. Both are a path
any socket client can name (add_hook, test_hook, declared_event_types)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from sloth_tui.lua.runtime import HookRuntime, declared_event_types
from sloth_tui.model.records import Event, Hook


def _run_in_thread(fn: object) -> threading.Thread:
    worker = threading.Thread(target=fn, daemon=True)  # type: ignore[arg-type]
    worker.start()
    return worker


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_not_waited_on(
    runtime: HookRuntime, deploy_event: Event, tmp_path: Path
) -> None:
    fifo = tmp_path / "hook.lua"
    os.mkfifo(fifo)
    results: list[object] = []

    def run() -> None:
        hook = Hook(name="fifo", events=["*"], file=str(fifo), timeout=1)
        results.append(runtime.run(hook, deploy_event))
        results.append(declared_event_types(str(fifo)))

    worker = _run_in_thread(run)
    worker.join(timeout=20)
    if worker.is_alive():  # unblock the reader so the thread can end, then fail
        with open(fifo, "w"):
            pass
        pytest.fail("running a hook whose file is a FIFO blocked its thread")
    exe, declared = results
    assert exe.status == "error"  # type: ignore[attr-defined]
    assert "not a regular file" in exe.error  # type: ignore[attr-defined]
    assert declared == []


def test_a_device_is_refused(runtime: HookRuntime, deploy_event: Event) -> None:
    hook = Hook(name="zero", events=["*"], file="/dev/zero", timeout=1)
    exe = runtime.run(hook, deploy_event)
    assert exe.status == "error" and "not a regular file" in (exe.error or "")
