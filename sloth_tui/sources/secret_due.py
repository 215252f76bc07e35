"""The secrets' due dates: secret.rotation_needed and secret.expired, each once.

On start and then every `every` seconds (a day), the source reads the vault's dates
(secret_vault.py; never the key, never a value) and emits, per secret:

- secret.rotation_needed {secret_name, last_rotated, rotation_policy} once rotation
  is due (rotate_after_days after creation or the last `secret rotate`);
- secret.expired {secret_name, expired_at} once its expiry date has passed.

"Once" holds across restarts: what was announced is kept in `secrets-due.json` beside
the vault, as one key per secret and due state (the due date is part of the key, so a
rotation, or a new expiry date, makes the next one news again). A key is dropped
when its state ends (rotated, deleted). An event the engine refuses is not marked,
so it is tried again at the next check.

The clock is injectable, so tests drive days without waiting them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sloth_tui.config import Settings
from sloth_tui.engine.api import EngineAPI
from sloth_tui.model.errors import SlothError
from sloth_tui.model.stats import SourceHealth
from sloth_tui.secret_vault import DAY, SecretInfo, Vault, iso
from sloth_tui.sources.options import SourceOptions
from sloth_tui.sources.status import Status

log = logging.getLogger("sloth_tui.sources.secret_due")

SOURCE = "secrets"  # the events' source


def _due(info: SecretInfo, now: float) -> list[tuple[str, str, dict[str, object]]]:
    """(key, type, data) for each due state of `info` at `now`."""
    out: list[tuple[str, str, dict[str, object]]] = []
    due = info.rotation_due
    if due is not None and now >= due:
        data: dict[str, object] = {
            "secret_name": info.name,
            "last_rotated": iso(info.rotated or info.created),
            "rotation_policy": f"every {info.rotate_after_days} days",
        }
        out.append((f"{info.name}|rotation_needed|{due:.0f}", "secret.rotation_needed", data))
    if info.expires is not None and now >= info.expires:
        gone: dict[str, object] = {"secret_name": info.name, "expired_at": iso(info.expires)}
        out.append((f"{info.name}|expired|{info.expires:.0f}", "secret.expired", gone))
    return out


class SecretDueSource:
    produces = ("secret.rotation_needed", "secret.expired")

    def __init__(
        self, vault: Vault, *, every: float = DAY, clock: Callable[[], float] = time.time
    ) -> None:
        self.name = "secrets"
        self.vault = vault
        self.every = every
        self.clock = clock
        self.emitted = 0
        self.checks = 0  # passes begun
        self.passes = 0  # passes finished (tests wait on it)
        # One pass at a time: two overlapping passes read the same "announced" set and
        # would both announce what just became due.
        self._one_pass = asyncio.Lock()
        self._due_now = 0
        self._api: EngineAPI | None = None
        self._task: asyncio.Task[None] | None = None
        self._status = Status(self.name, "secrets")

    async def start(self, api: EngineAPI) -> None:
        self._api = api
        self._status.running()
        self._task = asyncio.create_task(self._run(), name="secret-due")

    async def _run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.every)

    async def check(self) -> list[str]:
        """One pass: emit what became due since the last one. Returns the types emitted."""
        async with self._one_pass:
            try:
                return await self._check()
            finally:
                self.passes += 1

    async def _check(self) -> list[str]:
        assert self._api is not None, "check() before start()"
        now = self.clock()
        self.checks += 1
        try:
            infos = await asyncio.to_thread(self.vault.entries)
            announced = await asyncio.to_thread(self.vault.announced)
        except SlothError as exc:  # a vault that cannot be read: say so, try again later
            self._status.failed(exc)
            log.warning("secret due dates: %s", exc)
            return []
        self._status.running()
        keep: set[str] = set()
        sent: list[str] = []
        for info in infos:
            for key, etype, data in _due(info, now):
                if key in announced:
                    keep.add(key)
                    continue
                try:
                    await self._api.dispatch(etype, data, source=SOURCE)
                except SlothError as exc:  # refused now: not marked, tried at the next check
                    log.warning("secret due dates: %s not recorded: %s", etype, exc)
                    continue
                keep.add(key)
                sent.append(etype)
        self._due_now = len(keep)
        self.emitted += len(sent)
        if keep != announced:
            try:
                await asyncio.to_thread(self.vault.mark_announced, keep)
            except SlothError as exc:
                self._status.failed(exc)
        return sent

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._status.stopped()

    def health(self) -> SourceHealth:
        return self._status.health(f"{self._due_now} due, {self.emitted} announced")


def secret_due_sources(settings: Settings, options: SourceOptions) -> list[SecretDueSource]:
    """`serve` always runs it; a dashboard's own engine only when the home has a vault."""
    vault = Vault.for_settings(settings)
    if options.role != "serve" and not vault.path.exists():
        return []
    return [SecretDueSource(vault)]
