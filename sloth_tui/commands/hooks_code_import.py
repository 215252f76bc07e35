"""`sloth-tui hook import DIR`: make the registry match a folder `hook export` wrote.

Three steps, and the first two change nothing:

1. check: hooks.toml and every Lua file it names (commands/hooks_code.read_folder),
   then each file compiled by the engine that will run it (the daemon's, attached).
   Any problem, and the import stops here: one line per problem, exit 1.
2. plan: each hook is `add` (not in the registry), `change` (naming the settings that
   differ, `code` for the Lua file's bytes), `unchanged`, or, for a registry hook the
   folder lacks, `remove` with --prune and `keep` without.
3. apply (unless --dry-run): code first, then the registry.

Where the code lives: like `--from-sloth-runner`, the Lua file is copied into the hooks
dir (`<hooks dir>/imported/NAME.lua`, NAME-2.lua when that name holds other bytes, so
a file a hook points at is never rewritten under it) instead of the registry pointing
into the folder. The folder is usually a git checkout: a `git pull` or an edit there
must not silently change what runs; the next import does, after checking it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sloth_tui.commands.hooks_code import (
    MAX_CODE_BYTES,
    HookSpec,
    changed_fields,
    changes_for,
    copy_into,
    read_bounded,
    read_folder,
)
from sloth_tui.engine.api import EngineAPI
from sloth_tui.model.records import Hook

CODE_DIR = "imported"  # under the hooks dir: where imported hooks' code goes


@dataclass(frozen=True, slots=True)
class Step:
    """One line of the plan."""

    action: str  # add, change, unchanged, remove, keep
    name: str
    fields: tuple[str, ...] = ()  # change: what differs
    spec: HookSpec | None = None

    def line(self) -> str:
        if self.action == "change":
            return f"change {self.name}: {', '.join(self.fields)}"
        if self.action == "keep":
            return f"keep {self.name}: not in the folder (--prune removes it)"
        return f"{self.action} {self.name}"


@dataclass(slots=True)
class Plan:
    steps: list[Step] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for s in self.steps if s.action == action)

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.action in ("add", "change", "remove")]


async def check(engine: EngineAPI, directory: Path) -> tuple[list[HookSpec], list[str]]:
    """Every hook of the folder, and every problem (step 1)."""
    folder = read_folder(directory)
    problems = list(folder.problems)
    for spec in folder.hooks:
        text = spec.code.decode("utf-8", errors="replace")  # as the runtime reads files
        chunk = Path(spec.file).name
        syntax = await engine.check_syntax(text, chunk)
        if syntax is not None:
            line, message = syntax
            message = message.removeprefix(f"{chunk}:{line}:").strip()
            where = f" line {line}" if line else ""
            problems.append(f"{directory / spec.file}{where}: does not compile: {message}")
    return folder.hooks, problems


def _current_code(hook: Hook) -> bytes | None:
    data, _why = read_bounded(Path(hook.file), MAX_CODE_BYTES)
    return data


def plan(specs: list[HookSpec], hooks: list[Hook], prune: bool, default_timeout: float) -> Plan:
    """What the import would do to the registry `hooks` (step 2)."""
    here = {h.name: h for h in hooks}
    out = Plan()
    for spec in specs:
        hook = here.get(spec.name)
        if hook is None:
            out.steps.append(Step("add", spec.name, spec=spec))
            continue
        fields = changed_fields(spec, hook, _current_code(hook), default_timeout)
        out.steps.append(Step("change" if fields else "unchanged", spec.name, tuple(fields), spec))
    wanted = {s.name for s in specs}
    for name in sorted(set(here) - wanted):
        out.steps.append(Step("remove" if prune else "keep", name))
    return out


def copy_code(hooks_dir: Path, name: str, code: bytes) -> Path:
    """The code's copy in the hooks dir (reused when the same bytes are there)."""
    return copy_into(hooks_dir, name, code, CODE_DIR)[0]


async def apply(engine: EngineAPI, steps: list[Step], hooks_dir: Path, done: list[str]) -> None:
    """Do each change, in plan order (step 3), appending to `done` what was done, a word
    and a name each. An error stops it there, and `done` says what is already done."""
    default_timeout = engine.settings.hook_timeout
    for step in steps:
        spec = step.spec
        if step.action == "add" and spec is not None:
            path = copy_code(hooks_dir, spec.name, spec.code)
            await engine.add_hook(
                spec.name,
                list(spec.events),
                path,
                description=spec.description,
                enabled=spec.enabled,
                timeout=spec.timeout,
                max_instructions=spec.max_instructions,
                max_memory_mb=spec.max_memory_mb,
                stack=spec.stack,
            )
            if not spec.policy.is_default:  # add_hook takes no policy: a second step
                await engine.update_hook(spec.name, policy=spec.policy)
            done.append(f"added {spec.name}")
        elif step.action == "change" and spec is not None:
            changes = changes_for(spec, list(step.fields), default_timeout)
            if "code" in step.fields:
                changes["file"] = str(copy_code(hooks_dir, spec.name, spec.code))
            await engine.update_hook(spec.name, **changes)
            done.append(f"changed {spec.name}")
        elif step.action == "remove":
            await engine.delete_hook(step.name)
            done.append(f"removed {step.name}")
