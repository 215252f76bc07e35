"""Shared by the file_ops tests: a runtime whose file roots are one tmp dir, and a
way to run a few lines of Lua against it with paths passed in as globals."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sloth_tui.lua.runtime import HookRuntime, Limits
from sloth_tui.model.records import Event, Execution, Hook


@dataclass
class Sandbox:
    root: Path  # the one file root
    outside: Path  # a directory beside it, outside the roots
    runtime: HookRuntime
    make_hook: Callable[..., Hook]
    event: Event

    def run(self, body: str, dry_run: bool = False, **paths: Any) -> Execution:
        """Run `body` inside on_event, with each keyword a Lua local (strings quoted)."""
        lines = [f"local {k} = {json.dumps(str(v))}" for k, v in paths.items()]
        code = "function on_event(e)\n" + "\n".join([*lines, body]) + "\nend\n"
        return self.runtime.run(self.make_hook(code), self.event, dry_run=dry_run)

    def calls(self, exe: Execution, fn: str) -> list[dict[str, Any]]:
        return [c for c in exe.calls if c.get("fn") == fn]


def make_sandbox(
    tmp_path: Path, host: Any, make_hook: Callable[..., Hook], event: Event, **limits: Any
) -> Sandbox:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    runtime = HookRuntime(host, Limits(file_roots=(str(root),), **limits))
    return Sandbox(root, outside, runtime, make_hook, event)
