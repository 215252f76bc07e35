"""Warnings the engine logs while the dashboard runs are toasts (tui/log_toasts.py): they
went to Textual's captured stderr before, where nobody saw them. Logged from any thread,
shown as text, and a burst is capped."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from hostile import hostile_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hostile_screens import assert_clean
from tui_helpers import wait_for

from sloth_tui.engine.bus import Notice
from sloth_tui.engine.engine import Engine
from sloth_tui.model.policy import HookPolicy
from sloth_tui.remote.client import RemoteEngine
from sloth_tui.tui.live import LOG_CHARS, Batch
from sloth_tui.tui.log_toasts import SHOWN_PER_WINDOW, LogToasts

FAILING = 'function on_event() error("down [bold]\\27]0;PWNED\\7") end\n'


def _toasts(app, title: str) -> list[str]:
    return [str(n.message) for n in app._notifications if n.title == title]


async def test_an_auto_disabled_hook_is_a_toast(engine: Engine, make_app, tmp_path: Path) -> None:
    (tmp_path / "flaky.lua").write_text(FAILING)
    await engine.add_hook("flaky", ["deploy.failed"], tmp_path / "flaky.lua")
    await engine.update_hook("flaky", policy=HookPolicy(auto_disable=2))
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        for n in range(2):  # the engine logs a warning as it switches the hook off
            await engine.dispatch("deploy.failed", {"service": f"s{n}"}, source="test")
        await wait_for(pilot, lambda: bool(_toasts(app, "Engine warning")), timeout=15)
        [toast] = _toasts(app, "Engine warning")
        assert toast.startswith("hook flaky auto-disabled after 2 failures in a row")
        # The error is the hook's text: escaped, and shown as text (markup=False).
        assert toast.endswith(r"flaky.lua:1: down [bold]\x1b]0;PWNED\x07")
        assert "\x1b" not in toast


async def test_attached_the_daemons_warnings_are_toasts_too(
    attached: RemoteEngine, make_app, tmp_path: Path
) -> None:
    """The daemon logs them in its own process: they come as `log` notices, once each."""
    (tmp_path / "flaky.lua").write_text(FAILING)
    await attached.add_hook("flaky", ["deploy.failed"], tmp_path / "flaky.lua")
    await attached.update_hook("flaky", policy=HookPolicy(auto_disable=2))
    app = make_app(attached)
    async with app.run_test(size=(100, 30)) as pilot:
        await attached.wait_subscribed()
        for n in range(2):
            await attached.dispatch("deploy.failed", {"service": f"s{n}"}, source="cli")
        await wait_for(pilot, lambda: bool(_toasts(app, "Engine warning")), timeout=15)
        [toast] = _toasts(app, "Engine warning")
        assert toast.startswith("hook flaky auto-disabled after 2 failures in a row")
        assert toast.endswith(r"flaky.lua:1: down [bold]\x1b]0;PWNED\x07")
        assert_clean(app)


async def test_a_record_from_another_thread_is_shown_on_the_loop(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        log = logging.getLogger("sloth_tui.engine.store")
        writer = threading.Thread(
            target=lambda: log.error("WAL checkpoint failed: %s", "disk full"), name="writer"
        )
        writer.start()
        writer.join()
        await wait_for(pilot, lambda: bool(_toasts(app, "Engine error")))
        assert _toasts(app, "Engine error") == ["WAL checkpoint failed: disk full"]


async def test_a_burst_is_capped_and_counted(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        log = logging.getLogger("sloth_tui.engine")
        for n in range(20):
            log.warning("problem %d", n)
        await wait_for(pilot, lambda: len(_toasts(app, "Engine warning")) == SHOWN_PER_WINDOW)
        await pilot.pause(0.1)  # negative: a chance for a fourth toast (or a count) to come
        assert _toasts(app, "Engine warning") == ["problem 0", "problem 1", "problem 2"]
        assert _toasts(app, "Engine warnings") == []  # counted when the window ends


async def test_the_held_back_are_counted_when_the_window_ends() -> None:
    """The count, on a clock the test moves (a window is 10 s of real time)."""
    shown: list[tuple[str, str]] = []

    class App:
        def notify(self, message: str, *, title: str, severity: str, timeout: float) -> None:
            shown.append((title, message))

    now = [100.0]
    toasts = LogToasts(App(), clock=lambda: now[0])  # type: ignore[arg-type]
    for n in range(SHOWN_PER_WINDOW + 4):
        toasts.show(f"w{n}", False)
    assert [m for _t, m in shown] == [f"w{n}" for n in range(SHOWN_PER_WINDOW)]
    now[0] += 10.0  # the next record opens a new window: the held ones are said first
    toasts.show("next", True)
    assert shown[SHOWN_PER_WINDOW:] == [
        ("Engine warnings", "4 more engine warnings in 10 s, not shown one by one"),
        ("Engine error", "next"),
    ]
    toasts.remove()


async def test_the_handler_goes_with_the_dashboard(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        handlers = logging.getLogger("sloth_tui").handlers
        assert any(isinstance(h, LogToasts) for h in handlers)
    # Gone with the app: what the engine logs while it closes goes to stderr.
    assert not any(isinstance(h, LogToasts) for h in logging.getLogger("sloth_tui").handlers)


@settings(
    max_examples=12,
    deadline=None,
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# No lone surrogate: pytest keeps the records it captured in the test's report, which
# cannot cross to xdist's controller with one (execnet encodes UTF-8 strictly: CI's
# INTERNALERROR). The toast escapes them as all controls (plain_text.clean).
@given(
    texts=st.lists(
        hostile_text(200).filter(lambda t: not any("\ud800" <= c <= "\udfff" for c in t)),
        min_size=1,
        max_size=SHOWN_PER_WINDOW,
    )
)
async def test_any_logged_text_is_a_toast_of_text(
    engine: Engine, make_app, texts: list[str]
) -> None:
    app = make_app(engine)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        for text in texts:
            logging.getLogger("sloth_tui.engine").warning("said: %s", text)
        await wait_for(pilot, lambda: len(_toasts(app, "Engine warning")) == len(texts))
        await pilot.pause()
        assert_clean(app)  # no control byte drawn; the markup in them is text


@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(texts=st.lists(hostile_text(300), min_size=1, max_size=SHOWN_PER_WINDOW))
async def test_a_daemons_raw_line_is_a_toast_of_text(
    engine: Engine, make_app, texts: list[str]
) -> None:
    """A `log` notice comes from another process, perhaps another program: its message
    is raw (markup, escapes, controls, lone surrogates), shown as text all the same."""
    app = make_app(engine)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        batch = Batch.from_notices([Notice("log", {"level": "error", "message": t}) for t in texts])
        assert [text for text, _error in batch.logs] == [t[:LOG_CHARS] for t in texts]
        assert app._log_toasts is not None
        for text, error_level in batch.logs:  # as the tick does for an attached dashboard
            app._log_toasts.show(text, error_level)
        await wait_for(pilot, lambda: len(_toasts(app, "Engine error")) == len(texts))
        await pilot.pause()
        assert_clean(app)
