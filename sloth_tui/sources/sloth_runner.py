"""The Sloth Runner bridge: a live upstream hooks.db mirrored into this engine.

A Source like the others: `serve` runs it from `[sources.sloth_runner]`, and
`sloth-tui bridge sloth-runner` runs it in the foreground. It reads the file read-only
(sources/upstream_reader.py) and hands new rows to EngineAPI.mirror() in batches, each
with the cursor after it, which the engine stores in the same transaction: a bridge
killed at any moment resumes where its last batch ended, and a batch sent twice adds
nothing. Upstream's runs are shown as upstream's and never re-run here; with
`run_hooks = true` this engine's own hooks also run on the bridged events.

A missing, locked, truncated or replaced file is not fatal: the bridge says why in its
health (the dashboard's top bar and Stats screen), waits, and tries again.

It also says so as events (source "sloth-runner-bridge", apart from the mirrored rows'
"sloth-runner"): db.connected when it opens the upstream file, db.disconnected with the
reason when it loses it (the file vanished or became unreadable, and the connection was
closed). Once per change, not per retry; a lock wait keeps the connection, so it is no
disconnection; a stop says nothing (the engine's own shutdown says that).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sloth_tui.config import ConfigError, Settings
from sloth_tui.model.errors import SlothError
from sloth_tui.model.mirror import ForeignEvent, ForeignExecution, MirrorBatch, MirrorResult
from sloth_tui.model.stats import SourceHealth
from sloth_tui.sources.status import one_line
from sloth_tui.sources.upstream_db import UpstreamDBError, locate_hooks_db
from sloth_tui.sources.upstream_reader import (
    EVENT_KEY,
    OPEN_STATUSES,
    SOURCE,
    Cursor,
    Page,
    UpstreamReader,
)
from sloth_tui.user_path import resolved

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI
    from sloth_tui.sources.options import SourceOptions

log = logging.getLogger("sloth_tui.bridge")

BATCH_BYTES = 512 * 1024  # of JSON per mirror call: well inside the socket's 1 MiB line
MAX_BACKOFF = 30.0  # seconds between tries while the file cannot be read
EVENT_SOURCE = "sloth-runner-bridge"  # the bridge's own events (db.connected/disconnected)
STATUS_SWEEP = 600  # seconds of events re-checked for status changes after a (re)start
OPEN_TRACKED = 10_000  # events followed for status changes (the newest)


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """[sources.sloth_runner] in config.toml."""

    db: str | None = None  # hooks.db or its data dir; None: upstream's own discovery
    run_hooks: bool = False  # also run this engine's hooks on bridged events
    poll_interval: float = 1.0  # seconds between reads once caught up
    lookback: int = 10  # seconds re-read behind the cursor for rows committed late
    busy_timeout: float = 5.0  # seconds a read waits on upstream's write lock, then retries
    enabled: bool = True


_KEYS: dict[str, tuple[type | tuple[type, ...], tuple[float, float] | None]] = {
    "db": (str, None),
    "run_hooks": (bool, None),
    "poll_interval": ((int, float), (0.05, 3600)),
    "lookback": (int, (0, 3600)),
    "busy_timeout": ((int, float), (0.01, 600)),
    "enabled": (bool, None),
}


def bridge_settings(settings: Settings) -> BridgeSettings | None:
    """The bridge's table, checked; None when config.toml has none."""
    where = f"{settings.config_file} [sources]"
    raw = settings.table("sources")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(raw) - {"sloth_runner"})
    if unknown:
        raise ConfigError(f"{where}: unknown source {unknown[0]!r} (known: sloth_runner)")
    entry = raw.get("sloth_runner")
    if entry is None:
        return None
    where = f"{settings.config_file} [sources.sloth_runner]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table")
    values: dict[str, Any] = {}
    for key, given in entry.items():
        if key not in _KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(_KEYS)})")
        kind, bounds = _KEYS[key]
        if not isinstance(given, kind) or (isinstance(given, bool) and kind is not bool):
            raise ConfigError(f"{where}: {key} has the wrong type ({type(given).__name__})")
        value: Any = given
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            raise ConfigError(f"{where}: {key} must be between {bounds[0]:g} and {bounds[1]:g}")
        values[key] = float(value) if key in ("poll_interval", "busy_timeout") else value
    return BridgeSettings(**values)


def _event_bytes(event: ForeignEvent) -> int:
    return len(json.dumps(event.data, ensure_ascii=False)) + 300


class SlothRunnerBridge:
    """One followed hooks.db."""

    kind = "sloth_runner"
    # Its own events (sources/producers.py reads this); the mirrored rows are whatever
    # types upstream stores.
    produces: tuple[str, ...] = ("db.connected", "db.disconnected")
    produces = (
        "agent.*",
        "task.*",
        "workflow.*",
        "stack.*",
        "deploy.*",
        "resource.*",
        "db.connected",
        "db.disconnected",
    )

    def __init__(
        self,
        config: BridgeSettings,
        *,
        clock: Callable[[], float] = time.time,
        page: int = 500,
    ) -> None:
        self.config = config
        self.name = SOURCE
        self.clock = clock
        self.page = page
        self.api: EngineAPI | None = None
        self.reader: UpstreamReader | None = None
        self.cursor: Cursor | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.state = "stopped"
        self.problem = ""  # why the last try failed ("" when it worked)
        self.note = ""  # something the operator should know that is not a failure
        self.events = 0  # taken in by this bridge since it started
        self.runs = 0
        self.refused = 0
        self.orphans = 0  # upstream runs whose event upstream no longer has
        self.lag = 0  # seconds of upstream created_at not taken in yet
        self.caught_up = asyncio.Event()  # set after a read that found nothing more
        self.polls = 0
        # Upstream ids of bridged events still pending or processing there: id -> status.
        self._open: OrderedDict[str, str] = OrderedDict()
        self.connected: Path | None = None  # the file db.connected was said for, if open

    # -- Source -------------------------------------------------------------------

    async def start(self, api: EngineAPI) -> None:
        self.api = api
        self._stop.clear()
        self.state = "running"
        self._task = asyncio.create_task(self._loop(), name="sloth-runner-bridge")

    async def stop(self) -> None:
        self._stop.set()
        if self.reader is not None:
            self.reader.interrupt()  # a read waiting on a writer's lock ends now
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.reader is not None:
            self.reader.close()
        if self.state != "failed":
            self.state = "stopped"

    def health(self) -> SourceHealth:
        where = str(self.reader.path) if self.reader is not None else "hooks.db (not found yet)"
        figures = f"{self.events} events, {self.runs} runs mirrored since start"
        if self.refused:
            figures += f", {self.refused} refused"
        if self.orphans:
            figures += f", {self.orphans} runs of deleted events skipped"
        if self.problem:
            state = "retrying" if self.state == "running" else self.state
            detail = f"{self.problem} · {figures}"
            header = f"⚠ sloth-runner: {self.problem}"
        else:
            state = self.state
            hooks = " · hooks run here" if self.config.run_hooks else ""
            detail = f"{where} · {figures} · lag {self.lag}s{hooks}"
            if self.note:
                detail += f" · {self.note}"
            header = f"⇄ sloth-runner lag {self.lag}s" if self.state == "running" else ""
        return SourceHealth(self.name, self.kind, state, one_line(detail), one_line(header)[:60])

    # -- the loop -----------------------------------------------------------------

    async def _loop(self) -> None:
        backoff = self.config.poll_interval
        while not self._stop.is_set():
            try:
                more = await self.poll_once()
            except asyncio.CancelledError:
                raise
            except SlothError as exc:  # the file (UpstreamDBError) or the engine
                if self._stop.is_set():
                    break
                if isinstance(exc, UpstreamDBError):
                    await self._lost(exc)
                if one_line(str(exc)) != self.problem:
                    log.warning("sloth-runner bridge: %s (retrying)", exc)
                self.problem = one_line(str(exc))
                self.cursor = None  # re-read from the engine's stored cursor next time
                await self._pause(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            except Exception as exc:  # a bug: said once, logged whole, retried
                log.exception("sloth-runner bridge: unexpected error")
                self.problem = one_line(f"unexpected error ({type(exc).__name__}); see the log")
                self.cursor = None
                await self._pause(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            self.problem = ""
            backoff = self.config.poll_interval
            if more:
                await asyncio.sleep(0)  # catching up: read on, but let the loop breathe
                continue
            self.caught_up.set()
            await self._pause(self.config.poll_interval)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    def _path(self) -> Path:
        return locate_hooks_db(self.config.db)

    async def poll_once(self) -> bool:
        """Read once and hand over what is new. True when there is more to read at once."""
        api = self.api
        assert api is not None
        path = self._path()
        if self.reader is None or self.reader.path != path:
            if self.reader is not None:
                self.reader.close()
            self.reader = UpstreamReader(
                path,
                page=self.page,
                lookback=self.config.lookback,
                busy_timeout=self.config.busy_timeout,
            )
            self.cursor = None
        reader = self.reader
        reopened = await asyncio.to_thread(reader.ensure_open)
        if self.connected != reader.path:
            await self._say(api, "db.connected", {"connection_pool_size": 1, "mode": "read-only"})
            self.connected = reader.path
        if reopened or self.cursor is None:
            await self._resume(api, reader)
        cursor = self.cursor
        assert cursor is not None
        page = await asyncio.to_thread(reader.read, cursor)
        self.polls += 1
        await self._take_events(api, page)
        await self._take_runs(api, page)
        await self._take_statuses(api)
        assert self.cursor is not None
        self.lag = max(0, page.newest - self.cursor.ts)
        return page.more

    async def _lost(self, exc: UpstreamDBError) -> None:
        """After a failed poll: db.disconnected when the connection is gone (a file that
        vanished or cannot be read), not when it waits on a lock."""
        if self.connected is None or (self.reader is not None and self.reader.conn is not None):
            return
        api = self.api
        if api is not None:
            await self._say(api, "db.disconnected", {"reason": one_line(str(exc))})
        self.connected = None

    async def _say(self, api: EngineAPI, type: str, fields: dict[str, Any]) -> None:
        """One of the bridge's own events; an engine that refuses it (stopping) is no
        reason to stop bridging."""
        path = self.reader.path if self.reader is not None else self.connected
        data = {"database": str(path), **fields}
        try:
            await api.dispatch(type, data, source=EVENT_SOURCE)
        except SlothError as exc:
            log.debug("sloth-runner bridge: %s not recorded: %s", type, exc)

    @property
    def cursor_name(self) -> str:
        assert self.reader is not None
        return f"{SOURCE}:{resolved(self.reader.path)}"

    async def _resume(self, api: EngineAPI, reader: UpstreamReader) -> None:
        """Where to start: the engine's stored cursor, unless the file is not the one it
        was written for (replaced): then from its beginning (keys keep it exactly-once)."""
        stored = Cursor.loads(await api.mirror_cursor(self.cursor_name))
        replaced = bool(stored.file) and stored.file != reader.file
        if not replaced and (stored.ts or stored.run):
            # Replaced in place (same inode, other content): its rows end before ours.
            newest = await asyncio.to_thread(reader.newest)
            last_run = await asyncio.to_thread(reader.max_run_id)
            replaced = newest < stored.ts - reader.lookback or last_run < stored.run
        if replaced:
            self.note = "the file was replaced: re-read whole (nothing is stored twice)"
            log.info("sloth-runner bridge: %s was replaced; re-reading it whole", reader.path)
            stored = Cursor()
        stored.file = reader.file
        self.cursor = stored
        if stored.ts:
            # Events that were open when the bridge last stopped may have finished since.
            ids = await asyncio.to_thread(reader.recent_open, stored.ts - STATUS_SWEEP)
            for uid in ids[-OPEN_TRACKED:]:
                self._open[uid] = ""

    async def _send(self, api: EngineAPI, batch: MirrorBatch) -> MirrorResult:
        result = await api.mirror(batch)
        self.events += result.events_added
        self.runs += result.executions_added
        self.refused += len(result.refused)
        for key, reason in result.refused:
            log.warning("sloth-runner bridge: %s refused: %s", key, reason)
        return result

    def _batch(self, **parts: Any) -> MirrorBatch:
        assert self.cursor is not None
        return MirrorBatch(
            source=SOURCE,
            cursor_name=self.cursor_name,
            cursor=self.cursor.dumps(),
            run_hooks=self.config.run_hooks,
            **parts,
        )

    async def _take_events(self, api: EngineAPI, page: Page) -> None:
        assert self.reader is not None and self.cursor is not None
        chunk: list[ForeignEvent] = []
        size = 0
        last: Cursor | None = None
        for foreign, after in page.events:
            if chunk and (size + _event_bytes(foreign) > BATCH_BYTES):
                await self._flush_events(api, chunk, last)
                chunk, size = [], 0
            chunk.append(foreign)
            size += _event_bytes(foreign)
            last = after
        if chunk:
            await self._flush_events(api, chunk, last)
        if page.late:
            log.debug("sloth-runner bridge: %d rows committed behind the cursor", len(page.late))
            await self._send(api, self._batch(events=tuple(page.late)))
            self._remember(page.late, self.cursor.ts)

    async def _flush_events(
        self, api: EngineAPI, chunk: list[ForeignEvent], after: Cursor | None
    ) -> None:
        assert self.cursor is not None and after is not None
        self.cursor = Cursor(self.cursor.file, after.ts, after.id, self.cursor.run)
        await self._send(api, self._batch(events=tuple(chunk)))
        self._remember(chunk, None)

    def _remember(self, events: list[ForeignEvent], ts: int | None) -> None:
        """Taken: not to be re-read by the lookback scan; open ones followed for status."""
        assert self.reader is not None and self.cursor is not None
        for foreign in events:
            uid = foreign.key.removeprefix(EVENT_KEY)
            self.reader.seen[uid] = ts if ts is not None else self.cursor.ts
            if foreign.status in OPEN_STATUSES:
                self._open[uid] = foreign.status
        while len(self._open) > OPEN_TRACKED:
            self._open.popitem(last=False)

    async def _take_runs(self, api: EngineAPI, page: Page) -> None:
        assert self.reader is not None and self.cursor is not None
        if not page.runs:
            return
        runs: list[ForeignExecution] = [run for run, _ in page.runs]
        self.cursor = replace(self.cursor, run=page.runs[-1][1])
        extra: list[ForeignEvent] = []
        for _attempt in range(3):
            result = await self._send(api, self._batch(events=tuple(extra), executions=tuple(runs)))
            if result.cursor_stored:
                return
            # Runs whose event is not here yet: bring the events (the lookback missed
            # them, or they are older than the cursor); runs of events upstream has
            # deleted since are skipped, counted.
            wanted = [key.removeprefix(EVENT_KEY) for key in result.missing]
            found = await asyncio.to_thread(self.reader.events_by_id, wanted)
            extra = found
            have = {f.key for f in found}
            gone = set(result.missing) - have
            if gone:
                before = len(runs)
                runs = [run for run in runs if run.event_key not in gone]
                self.orphans += before - len(runs)
        raise SlothError("runs of upstream events could not be matched to their events")

    async def _take_statuses(self, api: EngineAPI) -> None:
        assert self.reader is not None
        if not self._open:
            return
        now = await asyncio.to_thread(self.reader.statuses, list(self._open))
        changes: list[tuple[str, str]] = []
        for uid in list(self._open):
            status = now.get(uid)
            if status is None:  # deleted upstream: nothing more to follow
                del self._open[uid]
                continue
            if status != self._open[uid]:
                changes.append((EVENT_KEY + uid, status))
                self._open[uid] = status
            if status not in OPEN_STATUSES:
                del self._open[uid]
        if changes:
            await self._send(api, self._batch(statuses=tuple(changes)))


def bridge_sources(settings: Settings, options: SourceOptions) -> list[SlothRunnerBridge]:
    """The registry's line: [sources.sloth_runner] in serve (a dashboard's embedded engine
    leaves it to serve, like the monitor and the watchers)."""
    config = bridge_settings(settings)
    if config is None or not config.enabled or options.role == "dashboard":
        return []
    return [SlothRunnerBridge(config)]
