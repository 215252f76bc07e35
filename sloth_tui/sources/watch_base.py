"""The base of the polled watchers ([[watchers]] of kind process, port, log, command and
service): one Source per entry, named watcher:NAME like the file watchers.

Each kind says how to look once (`check`: the events since the last look) and what it
follows (`describe`, for health). The base runs the looks on an interval through an
injectable `sleep` (tests drive it), takes the first look as the baseline (what already
runs or listens at start is no news), dispatches what a look found, and keeps the
errors: a look that fails is logged and reported once (a `system.error` event and the
health line) until it works again, and the watcher goes on looking.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

import psutil

from sloth_tui.model.errors import SlothError
from sloth_tui.model.rules import MAX_DATA_BYTES
from sloth_tui.model.saferegex import Regex, compile_regex
from sloth_tui.refusal_log import RefusalLog
from sloth_tui.sources.status import Status, one_line

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI
    from sloth_tui.model.stats import SourceHealth

log = logging.getLogger("sloth_tui.watchers")

Sleep = Callable[[float], Awaitable[Any]]
Found = list[tuple[str, dict[str, Any]]]  # (event type, data) a look found
KIND = "host_watchers"  # the registry's key for these sources (health's kind)


class WatchError(SlothError):
    """A watcher that cannot start or cannot look, with a one-line reason."""


class PolledWatcher:
    """One [[watchers]] entry of a polled kind, as a Source."""

    kind: ClassVar[str] = ""
    produces: ClassVar[tuple[str, ...]] = ()  # the event types it emits (besides system.error)
    # The first look is the baseline (what already runs is no news) unless it is news
    # already: a log's first look holds only lines written since the start (or, with
    # from_start, the file's lines, which were asked for).
    first_look_is_news: ClassVar[bool] = False

    def __init__(self, watcher: str, interval: float, *, sleep: Sleep = asyncio.sleep) -> None:
        self.watcher = watcher
        self.name = f"watcher:{watcher}"
        self.interval = interval
        self.emitted = 0
        self.refused = 0
        self._refusals = RefusalLog(self.name, log)
        self.error = ""  # the error of the last look, reported once; "" while looks work
        self._sleep = sleep
        self._api: EngineAPI | None = None
        self._task: asyncio.Task[None] | None = None
        self._status = Status(self.name, KIND)

    # -- what a kind provides -------------------------------------------------------------

    async def prepare(self) -> None:
        """Check that this watcher can work here; raise WatchError with why not."""

    async def check(self) -> Found:
        """Look once; the events since the last look. Raise WatchError/OSError on failure."""
        raise NotImplementedError

    def describe(self) -> str:
        """What it follows and its current state, for health."""
        raise NotImplementedError

    async def cleanup(self) -> None:
        """Release what the looks hold (an open file)."""

    # -- the Source -----------------------------------------------------------------------

    async def start(self, api: EngineAPI) -> None:
        try:
            await self.prepare()
        except WatchError as exc:
            raise self._status.failed(WatchError(f"watcher {self.watcher!r}: {exc}")) from None
        self._api = api
        self._task = asyncio.create_task(self._run(), name=self.name)
        self._status.running()

    async def _run(self) -> None:
        await self.poll(baseline=True)
        while True:
            await self._sleep(self.interval)
            await self.poll()

    async def poll(self, *, baseline: bool = False) -> int:
        """One look and its events (none for the baseline); how many were accepted."""
        try:
            found = await self.check()
        except asyncio.CancelledError:
            raise
        except (WatchError, OSError, psutil.Error) as exc:
            await self.report(_os_error(exc) if isinstance(exc, OSError) else str(exc) or repr(exc))
            return 0
        except Exception as exc:  # a bug in one look must not end the watcher
            log.exception("%s: a look failed", self.name)
            await self.report(f"internal error: {type(exc).__name__}: {exc}")
            return 0
        self.recovered()
        if baseline and not self.first_look_is_news:
            return 0
        sent = 0
        for event_type, data in found:
            sent += await self.emit(event_type, data)
        return sent

    async def emit(self, event_type: str, data: dict[str, Any]) -> int:
        assert self._api is not None
        try:
            await self._api.dispatch(event_type, fit(data), source=self.name)
        except SlothError as exc:
            self.refused += 1
            self._refusals.refused(event_type, exc)
            return 0
        self._refusals.taken()
        self.emitted += 1
        return 1

    async def report(self, error: str) -> None:
        """A failing look: logged and sent as system.error once, until it works again."""
        error = one_line(error)[:500]
        if error == self.error:
            return
        self.error = error
        log.warning("%s: %s", self.name, error)
        if self._api is not None:
            with contextlib.suppress(SlothError):
                await self._api.dispatch(
                    "system.error",
                    {"component": self.name, "error": error, "severity": "warning"},
                    source=self.name,
                )

    def recovered(self) -> None:
        if self.error:
            log.info("%s: works again", self.name)
        self.error = ""

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.cleanup()
        self._status.stopped()

    def health(self) -> SourceHealth:
        detail = f"{self.kind}: {self.describe()}"
        if self.emitted:
            detail += f", {self.emitted} events"
        if self.refused:
            detail += f", {self.refused} refused"
        if self.error:
            detail += f"; failing: {self.error}"
        return self._status.health(detail)


def _os_error(exc: OSError) -> str:
    what = (exc.strerror or str(exc)).lower()
    return f"{exc.filename}: {what}" if exc.filename else what


# -- event data within the engine's limit -----------------------------------------------

_FIT_LIMIT = MAX_DATA_BYTES * 3 // 4
_FIT_TEXT = 1024


def fit(data: dict[str, Any]) -> dict[str, Any]:
    """Data the engine takes: a log line of control characters grows six-fold as JSON,
    so when the whole would pass the limit, every long text in it is cut (and the event
    says `truncated`) rather than the event being refused."""
    if len(json.dumps(data, ensure_ascii=False)) <= _FIT_LIMIT // 6:
        return data  # cheap: even fully escaped it fits
    if len(json.dumps(data).encode()) <= _FIT_LIMIT:
        return data
    return dict(_cut(data), truncated=True)


def _cut(value: Any) -> Any:
    if isinstance(value, str):
        return value[:_FIT_TEXT]
    if isinstance(value, list):
        return [_cut(v) for v in value[:64]]
    if isinstance(value, dict):
        return {k: _cut(v) for k, v in list(value.items())[:64]}
    return value


# -- regular expressions that cannot stall the daemon -----------------------------------


def vet_regex(text: str) -> Regex:
    """Compile a pattern from config.toml with RE2 (model/saferegex.py), as
    lua/modules/file_ops does a hook's: linear time whatever the pattern and the line,
    Go's syntax (no backreferences, no lookaround), memory capped. ValueError
    (RegexError) says why a pattern is refused."""
    return compile_regex(text)
