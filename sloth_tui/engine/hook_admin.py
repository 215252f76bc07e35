"""The hooks an engine knows: add, change, delete, list, dry runs and run limits.

Engine owns one HookRegistry and delegates its hook calls to it (kept apart so each
file has one job). The registry holds the hooks as loaded from the store and the
matcher built from them; the runtime and dispatcher it needs for dry runs and for
dropping queued runs are handed over by Engine once it starts them (attach).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from sloth_tui import catalog
from sloth_tui.config import Settings
from sloth_tui.engine.bus import Bus
from sloth_tui.engine.dispatcher import Dispatcher
from sloth_tui.engine.events import check_context, check_event
from sloth_tui.engine.hooks import Matcher, check_hook_name, check_pattern
from sloth_tui.engine.store import Store
from sloth_tui.engine.threadhost import ThreadHost
from sloth_tui.lua.runtime import HookRuntime, Limits
from sloth_tui.model.errors import EventRefused, HookError, NotFound
from sloth_tui.model.records import Event, Execution, Hook
from sloth_tui.secret_vault import KEY_FILE, VAULT_FILE
from sloth_tui.user_path import resolved, user_path

log = logging.getLogger("sloth_tui.engine")


READONLY_REFUSAL = (
    "another engine owns this data dir; make changes through it (its dashboard or socket)"
)


def refuse_if_readonly(readonly: bool) -> None:
    """The one answer to a change asked of a read-only engine."""
    if readonly:
        raise HookError(READONLY_REFUSAL)


class HookRegistry:
    def __init__(self, settings: Settings, store: Store, bus: Bus, *, readonly: bool) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.readonly = readonly
        self.matcher = Matcher()
        self._hooks: dict[str, Hook] = {}
        self._runtime: HookRuntime | None = None
        self._dispatcher: Dispatcher | None = None

    def attach(self, runtime: HookRuntime, dispatcher: Dispatcher) -> None:
        """The engine's runtime (dry runs use it) and dispatcher (disabling a hook drops
        its queued runs there), once the engine has started them."""
        self._runtime = runtime
        self._dispatcher = dispatcher

    def find(self, name: str) -> Hook | None:
        """The hook itself (not a copy): for the engine's own use."""
        return self._hooks.get(name)

    def longest_timeout(self) -> float:
        """The longest deadline any run may have: the default or a hook's own."""
        return max([self.settings.hook_timeout, *(h.timeout for h in self._hooks.values())])

    @property
    def limits(self) -> Limits:
        s = self.settings
        return Limits(
            timeout=s.hook_timeout,
            instructions=s.hook_instructions,
            memory=s.hook_memory_mb * 1024 * 1024,
            host_memory=s.hook_host_memory_mb * 1024 * 1024,
            file_roots=s.file_roots,
            secret_files=(str(s.home / VAULT_FILE), str(s.config_dir / KEY_FILE)),
        )

    def limits_for(self, hook: Hook) -> Limits:
        """The engine's defaults, with the hook's own limits where it sets them."""
        base = self.limits
        return replace(
            base,
            instructions=hook.max_instructions or base.instructions,
            memory=(hook.max_memory_mb or 0) * 1024 * 1024 or base.memory,
        )

    async def reload(self) -> None:
        hooks = await self.store.list_hooks()
        self._hooks = {h.name: h for h in hooks}
        self.matcher.load(hooks)

    async def list_hooks(self) -> list[Hook]:
        return [replace(h) for h in sorted(self._hooks.values(), key=lambda h: h.name)]

    async def get_hook(self, name: str) -> Hook:
        hook = self._hooks.get(name)
        if hook is None:
            raise NotFound(f"no hook named {name!r}")
        return replace(hook)

    async def add_hook(
        self,
        name: str,
        events: list[str],
        file: str | Path,
        *,
        description: str = "",
        enabled: bool = True,
        timeout: float | None = None,
        max_instructions: int | None = None,
        max_memory_mb: int | None = None,
        stack: str | None = None,
    ) -> Hook:
        check_hook_name(name)
        if name in self._hooks:
            raise HookError(
                f"a hook named {name!r} already exists (delete it first, or pick another name)"
            )
        path = resolved(user_path(file))
        if not path.is_file():
            raise HookError(f"hook file not found: {path}")
        if not events:
            raise HookError("a hook needs at least one --event pattern")
        for pattern in events:
            check_pattern(pattern)
        if timeout is not None and not 0 < timeout <= 3600:
            raise HookError("--timeout must be between 0 and 3600 seconds")
        if max_instructions is not None and max_instructions < 1000:
            raise HookError("--max-instructions must be at least 1000")
        if max_memory_mb is not None and not 1 <= max_memory_mb <= 4096:
            raise HookError("--max-memory-mb must be between 1 and 4096")
        hook = Hook(
            name=name,
            events=list(dict.fromkeys(events)),
            file=str(path),
            description=description,
            enabled=enabled,
            timeout=timeout if timeout is not None else self.settings.hook_timeout,
            max_instructions=max_instructions,
            max_memory_mb=max_memory_mb,
            stack=_stack(stack),
        )
        return await self._save_hook(hook)

    async def update_hook(self, name: str, **changes: Any) -> Hook:
        hook = await self.get_hook(name)
        if "events" in changes:
            if not changes["events"]:
                raise HookError("a hook needs at least one event pattern")
            for pattern in changes["events"]:
                check_pattern(pattern)
        if "file" in changes:
            changes["file"] = str(resolved(user_path(changes["file"])))
        if "stack" in changes:
            changes["stack"] = _stack(changes["stack"])
        if changes.get("enabled") is True:  # enabling clears why the engine disabled it
            changes.setdefault("disabled_reason", None)
        saved = await self._save_hook(replace(hook, **changes))
        if changes.get("enabled") is True and self._dispatcher is not None:
            self._dispatcher.follow_ups.forget(name)  # auto_disable counts from 0 again
        if hook.enabled and not saved.enabled:
            await self._drop_queued_runs(name, "disabled")
        return saved

    async def set_hook_enabled(self, name: str, enabled: bool) -> Hook:
        return await self.update_hook(name, enabled=enabled)

    async def _save_hook(self, hook: Hook) -> Hook:
        refuse_if_readonly(self.readonly)
        await self.store.save_hook(hook)
        await self.reload()
        self.bus.publish("hooks", hook.name)
        return replace(hook)

    async def delete_hook(self, name: str) -> None:
        await self.get_hook(name)
        refuse_if_readonly(self.readonly)
        await self.store.delete_hook(name)
        await self.reload()
        await self._drop_queued_runs(name, "deleted")
        if self._dispatcher is not None:  # its policy's windows and counts go with it
            self._dispatcher.gate.forget(name)
            self._dispatcher.follow_ups.forget(name)
        self.bus.publish("hooks", name)

    async def _drop_queued_runs(self, name: str, what: str) -> None:
        """A hook turned off does not run on what was queued for it before: its queued runs
        go, each recorded as a `skipped` execution saying why (Executions, `hook logs`).
        A run already under way ends as usual."""
        if self._dispatcher is None:
            return
        why = f"not run: the hook was {what} before this queued run started"
        dropped = await self._dispatcher.drop_runs_of(name, why)
        if dropped:
            log.info(
                "hook %s %s: %d queued runs dropped (recorded as skipped)", name, what, dropped
            )

    async def test_hook(
        self,
        hook: Hook | str,
        event_type: str | None = None,
        data: dict[str, Any] | None = None,
        *,
        event: Event | None = None,
        code: str | None = None,
    ) -> Execution:
        """Dry run: the hook on a sample (or given) event; http and dispatch are only recorded."""
        if isinstance(hook, str):
            hook = await self.get_hook(hook)
        if event is None:
            event_type = event_type or _first_concrete_type(hook.events)
            sample = catalog.sample_data(event_type)
            sample.update(data or {})
            checked = check_event(event_type, sample, strict=False)
            event = Event(
                0,
                checked.type,
                checked.category,
                checked.data,
                source="test",
                warnings=checked.warnings,
            )
        # A read-only engine runs no hooks, only dry runs: a host that reads state only.
        runtime = self._runtime or HookRuntime(
            ThreadHost(self.store, asyncio.get_running_loop()), self.limits
        )
        execution = await asyncio.to_thread(
            runtime.run, hook, event, dry_run=True, code=code, limits=self.limits_for(hook)
        )
        execution.trigger = "test"
        if not self.readonly:
            await self.store.record_execution(execution)
        self.bus.publish("execution", execution)
        return execution


def _first_concrete_type(patterns: list[str]) -> str:
    """The first catalog type a hook's patterns match: what a test-fire uses by default."""
    for pattern in patterns:
        if catalog.get(pattern) or pattern == "custom":
            return pattern
        for name in catalog.type_names(extensions=True):
            if fnmatchcase(name, pattern):
                return name
    return "custom"


def _stack(stack: str | None) -> str | None:
    """A hook's stack: None or "" = every stack; otherwise one stack's name, matched
    exactly, by the rule an event's stack follows."""
    try:
        return check_context("--stack", stack)
    except EventRefused as exc:
        raise HookError(str(exc)) from None
