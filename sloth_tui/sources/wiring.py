"""SourceSet: the sources of one serving engine, started in order and stopped in the
order a serving engine keeps. `serve` (sources/daemon.py) and the dashboard's embedded
engine (tui/embedded.py) both use it, so they wire producers the same way.

Start: each source in registry order. A source that cannot start raises SlothError with
one line; a required kind (SourceOptions.required) stops the caller's start, any other
is told (the log, `warnings`, a system.error event naming it) and the rest run.

Stop (`stop`): the producers first, newest first (the watchers send what they were
still coalescing), then no hook run starts any more (queued ones stay pending for the
next start, and a producer waiting for queue room gets its reply at once), then the
socket stops taking requests and answers what it owes, then the engine closes (runs
under way end within their deadlines, system.shutdown is recorded), then the socket
hangs up (subscribers got the last notices; the socket file is removed).
`stop_at_once` is a second signal's path.

Figures and control: each source is started with its own CountingAPI around the engine
(sources/source_counting.py), so `health()` adds to every source's line the events it
handed in, its last event and its refusals, without any source counting for itself.
A source that is also `Controllable` (engine/api.py) lists items an operator may
enable, disable or run (`source_items`, `control_source`: what the engine delegates
EngineAPI's methods of those names to, through Engine.report_controls).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from sloth_tui.config import Settings
from sloth_tui.engine.api import Controllable
from sloth_tui.model.errors import EventRefused, SlothError
from sloth_tui.model.stats import SOURCE_ACTIONS
from sloth_tui.sources.registry import SourceOptions, build_sources
from sloth_tui.sources.source_counting import CountingAPI
from sloth_tui.sources.status import one_line

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI, Source
    from sloth_tui.model.stats import SourceHealth, SourceItem

log = logging.getLogger("sloth_tui.sources")


class ServingEngine(Protocol):
    """What the stop order needs of a local engine beyond the EngineAPI."""

    def halt_hooks(self) -> None: ...

    async def close(self, reason: str = ..., drain_timeout: float = ...) -> None: ...

    async def abort(self) -> None: ...


@runtime_checkable
class Intake(Protocol):
    """A source that takes requests (the socket): it stops in two phases around the
    engine's close, and can hang up at once."""

    async def stop_intake(self) -> None: ...

    async def close(self) -> None: ...

    def abort(self) -> None: ...


class SourceSet:
    def __init__(
        self,
        sources: Sequence[Source],
        required: frozenset[str] = frozenset(),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sources: list[Source] = list(sources)
        self.required = required
        self.warnings: list[str] = []  # one line per source that failed and was left out
        self._api: EngineAPI | None = None
        self._clock = clock  # when a source's last event was taken
        self._counts: dict[int, CountingAPI] = {}  # id(source) -> what it was started with

    @classmethod
    def build(cls, settings: Settings, options: SourceOptions) -> SourceSet:
        """Every source config.toml and the caller's options ask for, from the registry."""
        return cls(build_sources(settings, options), options.required)

    def find(self, name: str) -> Source | None:
        return next((s for s in self.sources if s.name == name), None)

    def health(self) -> list[SourceHealth]:
        """One line per source, in start order: for the dashboard and `doctor`, with
        what each handed in (counted by the wiring, not by the source)."""
        out = []
        for source in self.sources:
            line = source.health()
            counts = self._counts.get(id(source))
            if counts is not None:
                line = dataclasses.replace(
                    line,
                    events=counts.events,
                    last_event=counts.last_event,
                    errors=counts.errors,
                )
            out.append(line)
        return out

    def counting(self, source: Source) -> CountingAPI | None:
        """The counting engine `source` was started with (None before its start)."""
        return self._counts.get(id(source))

    # -- control: what an operator may switch or run ----------------------------------

    def source_items(self) -> list[SourceItem]:
        """Every item of every Controllable source, in start order."""
        items: list[SourceItem] = []
        for source in self.sources:
            if isinstance(source, Controllable):
                items.extend(source.control_items())
        return items

    async def control_source(self, source: str, item: str, action: str) -> str:
        """Do `action` on `item` of `source`; a one-line SlothError when any of the
        three is not one that exists (the source words an unknown item itself)."""
        if action not in SOURCE_ACTIONS:
            raise SlothError(f"unknown action {action!r} (use {', '.join(SOURCE_ACTIONS)})")
        found = self.find(source)
        if found is None:
            raise SlothError(f"no source named {source!r}")
        if not isinstance(found, Controllable):
            raise SlothError(f"{source}: has nothing to enable, disable or run")
        match = next((i for i in found.control_items() if i.name == item), None)
        if match is not None and action not in match.actions:
            can = ", ".join(match.actions) or "nothing"
            raise SlothError(f"{source}: {item}: cannot {action} (it can: {can})")
        return one_line(await found.control(item, action))

    # -- start ----------------------------------------------------------------------------

    async def start(self, api: EngineAPI) -> list[str]:
        """Start every source in order; the one-line errors of those left out."""
        self._api = api
        return await self._start_each(self.sources, api)

    async def _start_each(self, sources: Sequence[Source], api: EngineAPI) -> list[str]:
        errors: list[str] = []
        for source in sources:
            counts = CountingAPI(api, self._clock)
            self._counts[id(source)] = counts
            try:
                # CountingAPI is the engine with four members counted and every other
                # one passed through (__getattr__), which mypy cannot see structurally.
                await source.start(cast("EngineAPI", counts))
            except SlothError as exc:
                if source.health().kind in self.required:
                    raise
                errors.append(await self._left_out(source, exc, api))
        return errors

    async def _left_out(self, source: Source, exc: SlothError, api: EngineAPI) -> str:
        """A source that could not start and is not required: told loudly, once."""
        line = one_line(str(exc))
        log.error("%s", line)
        self.warnings.append(line)
        with contextlib.suppress(EventRefused):
            await api.dispatch(
                "system.error",
                {"component": source.name, "error": line, "severity": "error"},
                source="system",
            )
        return line

    async def replace(self, kind: str, fresh: Sequence[Source]) -> list[str]:
        """Stop the sources of `kind` (newest first), start `fresh` in their place; the
        one-line errors of those left out (e.g. re-reading [[watchers]])."""
        assert self._api is not None, "replace() before start()"
        old = [s for s in self.sources if s.health().kind == kind]
        for source in reversed(old):
            await source.stop()
        at = self.sources.index(old[0]) if old else len(self.sources)
        rest = [s for s in self.sources if s not in old]
        self.sources = [*rest[:at], *fresh, *rest[at:]]
        for source in old:
            self._counts.pop(id(source), None)
        return await self._start_each(fresh, self._api)

    # -- stop -----------------------------------------------------------------------------

    def _producers(self) -> list[Source]:
        return [s for s in reversed(self.sources) if not isinstance(s, Intake)]

    def _intakes(self) -> list[Intake]:
        return [s for s in reversed(self.sources) if isinstance(s, Intake)]

    async def stop(self, engine: ServingEngine | None, reason: str) -> None:
        """The stop order of a serving engine (the module's docstring); `engine` None when
        it never opened."""
        for source in self._producers():
            try:
                await source.stop()
            except Exception:  # one producer's bug must not keep the engine open
                log.exception("%s: stopping failed", source.name)
        if engine is not None:
            engine.halt_hooks()
        for intake in self._intakes():
            await intake.stop_intake()
        if engine is not None:
            await engine.close(reason=reason, drain_timeout=0)
        for intake in self._intakes():
            await intake.close()

    async def stop_at_once(self, engine: ServingEngine | None) -> None:
        """A second signal during a stop: hang up on everyone and remove the socket file,
        then close the store (what is committed stays) and release the lock, without
        waiting for hook runs under way (their events stay unfinished, for recovery)."""
        try:
            for intake in self._intakes():
                intake.abort()
        finally:
            if engine is not None:
                await engine.abort()
