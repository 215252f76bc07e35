"""File watchers: watchdog observes the configured paths and events flow into the engine.

watchdog calls back in its own thread; the handler there only filters and
hands a plain tuple to the event loop (call_soon_threadsafe). Everything
else, coalescing and dispatch, happens on the loop: the engine is never
touched from the watchdog thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from sloth_tui.config import Settings, WatcherSettings
from sloth_tui.model.errors import SlothError
from sloth_tui.refusal_log import RefusalLog
from sloth_tui.sources.status import Status
from sloth_tui.user_path import resolved, user_path

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI
    from sloth_tui.model.stats import SourceHealth
    from sloth_tui.sources.options import SourceOptions

log = logging.getLogger("sloth_tui.watchers")

Dispatch = Callable[..., Awaitable[Any]]
COALESCE_S = 0.25  # at most one created/modified event per file in this window
QUEUE_SIZE = 10_000  # file events waiting for the engine; past it they are dropped and counted
PUMPS = 4
_KINDS = ("created", "modified", "deleted", "moved")


class WatcherError(SlothError):
    pass


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class Watcher:
    """One named watcher: which paths it wants, and the coalescing of bursts (on the loop)."""

    def __init__(
        self, cfg: WatcherSettings, emit: Callable[[str, dict[str, Any]], None], window: float
    ) -> None:
        path = user_path(cfg.path)
        if not path.exists():
            raise WatcherError(f"watcher {cfg.name!r}: {path} does not exist")
        self.cfg = cfg
        self.target = resolved(path)
        # A single file is watched through its directory, narrowed to that one name.
        self.root = self.target if self.target.is_dir() else self.target.parent
        self.only = None if self.target.is_dir() else str(self.target)
        self._emit = emit
        self._window = window
        self._pending: dict[str, tuple[str, asyncio.TimerHandle]] = {}

    @property
    def recursive(self) -> bool:
        return self.cfg.recursive and self.only is None

    def wants(self, path: str) -> bool:
        """Patterns match the name or the path below the root; `ignore` any part of it."""
        if self.only is not None:
            return path == self.only
        rel = os.path.relpath(path, self.root)
        parts = rel.split(os.sep)
        for pattern in self.cfg.ignore:
            if fnmatchcase(rel, pattern) or any(fnmatchcase(p, pattern) for p in parts):
                return False
        return any(fnmatchcase(parts[-1], p) or fnmatchcase(rel, p) for p in self.cfg.patterns)

    def on_raw(self, kind: str, src: str, dest: str | None, is_dir: bool) -> None:
        name = self.cfg.name
        if kind == "moved":
            self._flush(src)
            data: dict[str, Any] = {"old_path": src, "new_path": dest, "watcher": name}
            if is_dir:
                data["is_dir"] = True
            self._emit("file.renamed", data)
        elif is_dir:
            self._emit(f"dir.{kind}", {"path": src, "watcher": name})
        elif kind == "deleted":
            self._flush(src)
            self._emit("file.deleted", {"path": src, "watcher": name})
        elif src in self._pending:
            pass  # folded into the event already waiting (a created stays a created)
        else:
            timer = asyncio.get_running_loop().call_later(self._window, self._fire, src)
            self._pending[src] = (kind, timer)

    def _flush(self, path: str) -> None:
        if path in self._pending:
            self._pending[path][1].cancel()
            self._fire(path)

    def flush_all(self) -> None:
        for path in list(self._pending):
            self._flush(path)

    def _fire(self, path: str) -> None:
        kind, _timer = self._pending.pop(path)
        try:
            st: os.stat_result | None = os.stat(path)
        except OSError:
            st = None
        size = st.st_size if st else None
        if kind == "created":
            mode = f"{st.st_mode & 0o7777:04o}" if st else None
            self._emit(
                "file.created", {"path": path, "size": size, "mode": mode, "watcher": self.cfg.name}
            )
        else:
            mtime = _iso(st.st_mtime) if st else None
            self._emit(
                "file.modified",
                {"path": path, "size": size, "modification_time": mtime, "watcher": self.cfg.name},
            )


def _text(path: str) -> str:
    """A path as event text: a name that is not UTF-8 (os.fsdecode keeps its bytes as lone
    surrogates, which the store refuses) shows those bytes as \\xNN instead."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class _Handler(FileSystemEventHandler):
    """Runs in watchdog's thread: filter, then hand a plain tuple to the loop. Nothing else."""

    def __init__(self, watcher: Watcher, loop: asyncio.AbstractEventLoop) -> None:
        self._watcher = watcher
        self._loop = loop

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind not in _KINDS or (kind == "modified" and event.is_directory):
            return
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if kind == "moved" else None
        if not (self._watcher.wants(src) or (dest is not None and self._watcher.wants(dest))):
            return
        with contextlib.suppress(RuntimeError):  # the loop closed while we were stopping
            self._loop.call_soon_threadsafe(
                self._watcher.on_raw, kind, src, dest, event.is_directory
            )


class FileWatchers:
    """All configured watchers on one observer, feeding the engine through a bounded queue."""

    def __init__(
        self,
        dispatch: Dispatch,
        watchers: tuple[WatcherSettings, ...],
        *,
        window: float = COALESCE_S,
    ) -> None:
        self._dispatch = dispatch
        self._configs = watchers
        self._window = window
        self._watchers: dict[str, Watcher] = {}
        self._queue: asyncio.Queue[tuple[str, str, dict[str, Any]]] = asyncio.Queue(QUEUE_SIZE)
        self._refusals: dict[str, RefusalLog] = {}  # per watcher (its source): _emitter
        self._pumps: list[asyncio.Task[None]] = []
        self._observer: Any = None
        self.dropped = 0

    @property
    def names(self) -> list[str]:
        return sorted(self._watchers)

    def start(self) -> dict[str, str]:
        """Start every watcher that can start; return {name: one-line error} for the others."""
        loop = asyncio.get_running_loop()
        self._observer = Observer()
        self._observer.daemon = True
        errors: dict[str, str] = {}
        for cfg in self._configs:
            try:
                watcher = Watcher(cfg, self._emitter(cfg.name), self._window)
                self._observer.schedule(
                    _Handler(watcher, loop), str(watcher.root), recursive=watcher.recursive
                )
            except WatcherError as exc:
                errors[cfg.name] = str(exc)
                continue
            except OSError as exc:  # e.g. the inotify watch limit
                errors[cfg.name] = (
                    f"watcher {cfg.name!r}: cannot watch {cfg.path}: {exc.strerror or exc}"
                )
                continue
            self._watchers[cfg.name] = watcher
            log.info(
                "watcher %s: watching %s%s",
                cfg.name,
                watcher.target,
                " (recursive)" if watcher.recursive else "",
            )
        self._observer.start()
        self._pumps = [loop.create_task(self._pump(), name=f"watch-pump-{i}") for i in range(PUMPS)]
        return errors

    def _emitter(self, name: str) -> Callable[[str, dict[str, Any]], None]:
        source = f"watcher:{name}"
        self._refusals[source] = RefusalLog(source, log)

        def emit(event_type: str, data: dict[str, Any]) -> None:
            data = {k: _text(v) if isinstance(v, str) else v for k, v in data.items()}
            try:
                self._queue.put_nowait((event_type, source, data))
            except asyncio.QueueFull:
                self.dropped += 1
                if self.dropped in (1, 100, 10_000) or self.dropped % 100_000 == 0:
                    log.warning(
                        "watchers: the engine is behind; %d file events dropped", self.dropped
                    )

        return emit

    async def _pump(self) -> None:
        # Several pumps keep ingest fast; ids still follow queue order, because the
        # engine numbers an event before its first await.
        while True:
            event_type, source, data = await self._queue.get()
            refusals = self._refusals[source]
            try:
                await self._dispatch(event_type, data, source=source)
                refusals.taken()
            except SlothError as exc:
                refusals.refused(event_type, exc)
            finally:
                self._queue.task_done()

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop observing, send what was still being coalesced, and let the queue drain."""
        if self._observer is not None:
            self._observer.stop()
            await asyncio.to_thread(self._observer.join, timeout)
            self._observer = None
        for watcher in self._watchers.values():
            watcher.flush_all()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        for task in self._pumps:
            task.cancel()
        for task in self._pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._pumps = []
        self._watchers = {}


class WatcherSource:
    """One [[watchers]] entry as a Source (its own observer), named watcher:NAME.

    One source per entry, so a watcher that cannot start is one failed source, told
    with its own line, while the others run (as `serve` always did)."""

    produces = ("file.created", "file.modified", "file.deleted", "file.renamed", "dir.*")

    def __init__(self, cfg: WatcherSettings, *, window: float = COALESCE_S) -> None:
        self.cfg = cfg
        self.name = f"watcher:{cfg.name}"
        self.watchers: FileWatchers | None = None
        self._window = window
        self._status = Status(self.name, "watchers")

    async def start(self, api: EngineAPI) -> None:
        watchers = FileWatchers(api.dispatch, (self.cfg,), window=self._window)
        errors = watchers.start()
        if errors:
            await watchers.stop(timeout=0)
            raise self._status.failed(WatcherError(errors[self.cfg.name]))
        self.watchers = watchers
        self._status.running()

    async def stop(self) -> None:
        """Sends what was still being coalesced before it returns."""
        watchers, self.watchers = self.watchers, None
        if watchers is not None:
            await watchers.stop()
        self._status.stopped()

    def health(self) -> SourceHealth:
        dropped = self.watchers.dropped if self.watchers is not None else 0
        detail = self.cfg.path + (f", {dropped} events dropped" if dropped else "")
        return self._status.health(detail)


def watcher_sources(settings: Settings, options: SourceOptions) -> list[WatcherSource]:
    """The registry's line for [[watchers]]: one source per entry (none with --no-watchers)."""
    if not options.watchers:
        return []
    return [WatcherSource(cfg) for cfg in settings.watchers]
