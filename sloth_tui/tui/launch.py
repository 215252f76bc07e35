"""Run the dashboard: attached to a daemon, or on an embedded engine (with the demo's stream
when asked). The command line's glue (click, settings from flags, one-line errors) is in
commands/dashboard.py: nothing here knows about click or the commands."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sloth_tui.config import Settings
from sloth_tui.tui.embedded import EmbeddedEngine

if TYPE_CHECKING:
    from sloth_tui.remote.client import RemoteEngine
    from sloth_tui.remote.wire import Address
    from sloth_tui.tui.app import SlothApp


async def _run(
    settings: Settings,
    *,
    socket: Address | None,
    theme: str | None,
    themes_dir: Path,
    demo_rate: float | None,
    fleet: str | None = None,
) -> int:
    """Run the dashboard; its exit code (1 after a crash, 128+N after signal N). `fleet`:
    a NATS URL, the embedded engine joins that fleet as an observer (tui/fleet_view.py)."""
    from sloth_tui.tui.app import SlothApp

    if socket is not None:  # attach: the daemon keeps running when the dashboard quits
        from sloth_tui.remote.client import RemoteEngine

        remote: RemoteEngine = await RemoteEngine.open(settings, socket)
        attached = StopSignals(asyncio.get_running_loop())
        try:
            return await _run_app(
                SlothApp(remote, theme=theme, themes_dir=themes_dir, freeze_gc=True), attached
            )
        finally:
            attached.remove()
            await remote.close(reason="dashboard closed")
    embedded = EmbeddedEngine(settings, demo_rate=demo_rate, nats=fleet)
    engine = await embedded.start()  # the demo's hooks and stream too, when asked
    app: SlothApp | None = None
    signals = StopSignals(asyncio.get_running_loop())
    try:
        if fleet is not None:
            from sloth_tui.tui.fleet_view import FleetViewApp

            app_class: type[SlothApp] = FleetViewApp
        else:
            app_class = SlothApp
        app = app_class(
            engine,
            theme=theme,
            themes_dir=themes_dir,
            demo=embedded.demo,
            freeze_gc=True,
            warnings=embedded.warnings,
        )
        embedded.on_handover = app.reattach
        return await _run_app(app, signals)
    finally:
        signals.closing()
        try:
            await embedded.wait_handed_over()
            await _close_or_stop_at_once(embedded, signals.forced)
        finally:
            signals.remove()
        if (
            app is not None and app.attached
        ):  # serve took the home over: detach from it (it keeps running)
            await app.engine.close(reason="dashboard closed")


class StopSignals:
    """The dashboard's stop signals, one set of handlers from the app's start to the exit.

    While the app runs, SIGHUP (the SSH session dropped) and SIGTERM close it cleanly,
    like `q` (^C is a key to the app). After the first, and once the app has closed, a
    SIGTERM or SIGINT cuts the rest of the close short: `forced` holds it (a SIGHUP then
    changes nothing: the close goes on). Handlers handed from one phase to the next had
    gaps: a second SIGTERM that came while the app was still closing only asked it to
    exit again, and the engine then waited out its hook runs."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.forced: asyncio.Future[int] = loop.create_future()
        self._app: SlothApp | None = None  # until the first signal, or the app's own close
        self._installed: set[signal.Signals] = set()

    def running(self, app: SlothApp) -> None:
        self._app = app
        self._install(signal.SIGHUP, signal.SIGTERM)

    def closing(self) -> None:
        self._app = None
        self._install(signal.SIGHUP, signal.SIGTERM, signal.SIGINT)

    def remove(self) -> None:
        for sig in self._installed:
            self._loop.remove_signal_handler(sig)
        self._installed.clear()

    def _install(self, *sigs: signal.Signals) -> None:
        for sig in sigs:
            if sig not in self._installed:
                self._loop.add_signal_handler(sig, self._received, sig)
                self._installed.add(sig)

    def _received(self, sig: signal.Signals) -> None:
        app, self._app = self._app, None
        if app is not None:  # the first: the app closes as for `q`
            app.exit(return_code=128 + sig.value)
        elif sig != signal.SIGHUP and not self.forced.done():
            self.forced.set_result(sig.value)
        # A SIGHUP while closing: the terminal went away, the close goes on.


async def _close_or_stop_at_once(embedded: EmbeddedEngine, forced: asyncio.Future[int]) -> None:
    """Close the embedded engine in order (runs under way end within their deadlines);
    a signal meanwhile (`forced`, see StopSignals) stops at once, as for `serve`:
    connections dropped, socket file removed, store closed, lock released, and the
    process exits 128 + the signal."""
    if not forced.done():
        closing = asyncio.create_task(embedded.close(), name="embedded-close")
        either: set[asyncio.Future[Any]] = {closing, forced}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if closing.done() or not forced.done():
            await closing
            return
        closing.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await closing
    await embedded.stop_at_once()
    # A normal exit would join the hook threads still running: the wait this skips.
    logging.shutdown()
    os._exit(128 + forced.result())


async def _run_app(app: SlothApp, signals: StopSignals) -> int:
    """Run `app` until it exits; SIGHUP and SIGTERM close it cleanly, like `q`, so the
    engine records its shutdown and a demo home is removed (StopSignals)."""
    signals.running(app)
    await app.run_async()
    return app.return_code or 0


def launch(
    settings: Settings,
    *,
    socket: Address | None = None,
    theme: str | None,
    themes_dir: Path,
    demo_rate: float | None = None,
    fleet: str | None = None,
) -> int:
    """Run the dashboard to its end; its exit code (0, 1 after a crash, 128+N after signal
    N, 130 on ^C before the app was up). A SlothError (EngineLocked, DaemonUnavailable and
    friends) is raised for the caller to show as one line."""
    try:
        return asyncio.run(
            _run(
                settings,
                socket=socket,
                theme=theme,
                themes_dir=themes_dir,
                demo_rate=demo_rate,
                fleet=fleet,
            )
        )
    except KeyboardInterrupt:
        return 130
