"""Issue 15 item 6: the Fleet screen (key 7) on a real embedded engine.

The members come from `EngineAPI.fleet_status()`; here it is fed through the one seam the
fleet's Source uses, `engine.fleet_port().report_fleet(provider)`, with fixed members, so
that the screen and its snapshot are deterministic. Everything else is real: the app, the
engine, its store. (tests/tui/test_fleet_screen_live.py feeds it from a real fleet.)
Names, versions and errors are strangers' text: shown as written, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable

from tui_helpers import T0, fake_sysinfo, screen_text, wait_for

from sloth_tui.config import Settings
from sloth_tui.engine.api import EngineAPI
from sloth_tui.engine.engine import Engine
from sloth_tui.model.fleet import FleetMember, FleetStatus
from sloth_tui.model.mirror import ForeignEvent, MirrorBatch
from sloth_tui.tui.app import SlothApp
from sloth_tui.tui.screens.fleet import NOT_JOINED, FleetScreen

HOSTILE = "[bold red]pwn[/]\x1b[31m"
HOSTILE_ERROR = "[link=http://x]y[/link] \x1b]8;;evil\x07 down"
NOW = T0 + 30.0  # the app clock of `frozen_time`


def members(hostile: bool = False) -> tuple[FleetMember, ...]:
    return (
        FleetMember("web-1", host="web-1", version="0.15.0", state="up",
                    last_heartbeat=NOW - 1, hooks=4, events_per_s=12.5, runs_per_s=3.0,
                    queue_depth=2, lag=0, outbox=0),
        FleetMember("web-2", host="web-2", version="0.15.0", state="late",
                    last_heartbeat=NOW - 4, hooks=4, events_per_s=240.0, runs_per_s=0.5,
                    queue_depth=0, lag=17, outbox=3),
        FleetMember(HOSTILE if hostile else "db-1", version="[i]0.14.2[/i]" if hostile
                    else "0.14.2", state="down", last_heartbeat=NOW - 95, hooks=3),
    )  # fmt: skip


def status(*, hostile: bool = False, connected: bool = True) -> FleetStatus:
    return FleetStatus(
        joined=True,
        url="nats://127.0.0.1:4222",
        name="dash-host-ops",
        connected=connected,
        observer=True,
        error="" if connected else HOSTILE_ERROR,
        members=members(hostile),
        counters={"published": 3, "taken_in": 1204},
    )


def build(engine: Engine | Settings, clock: Callable[[], float] | None = None) -> SlothApp:
    return SlothApp(engine, clock=clock or (lambda: NOW), sysinfo=fake_sysinfo, tick=0.05)


async def test_members_appear_and_strangers_text_stays_text(engine: Engine) -> None:
    engine.fleet_port().report_fleet(lambda: status(hostile=True, connected=False))
    app = build(engine)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("7")
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen._drawn)
        # drawn: the header's figures and the table's last row
        await wait_for(pilot, lambda: all(s in screen_text(app) for s in ("taken_in", "web-2")))
        text = screen_text(app)
        assert "web-1" in text and "web-2" in text
        assert "[bold red]pwn[/]␛[31m" in text  # as written, the escape made visible
        assert "[i]0.14.2[/i]" in text
        assert "[link=http://x]y[/link]" in text and "not connected" in text
        assert "dash-host-ops · observer" in text
        assert "3 engines: 1 up, 1 late, 1 down" in text
        assert "taken_in 1,204" in text
        # The table's rows: one per member, the highlighted one copied as its record.
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        assert screen.table.row_count == 3
        await pilot.press("j")
        member = screen.current_member()
        assert member is not None and member.name == "web-2"


async def test_a_new_member_shows_on_the_next_poll(engine: Engine) -> None:
    current = [FleetStatus(joined=True, name="a", url="nats://h:4222", connected=True)]
    engine.fleet_port().report_fleet(lambda: current[0])
    app = build(engine)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("7")
        await wait_for(pilot, lambda: "no members seen yet" in screen_text(app))
        current[0] = status()
        await wait_for(pilot, lambda: "web-2" in screen_text(app), timeout=10)


async def test_not_in_a_fleet_says_how_to_join(engine: Engine) -> None:
    app = build(engine)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("7")
        await wait_for(pilot, lambda: NOT_JOINED in screen_text(app))
        assert app.screen.table.row_count == 0  # type: ignore[attr-defined]
        # The keys are the real bindings: the help lists the Fleet screen's key.
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: "Fleet" in screen_text(app))


def test_fleet_screen_snapshot(snap_compare, settings: Settings, frozen_time) -> None:
    async def run_before(pilot) -> None:
        app = pilot.app
        app.engine.fleet_port().report_fleet(status)
        await pilot.press("7")
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen._drawn)
        await pilot.pause(0.3)

    assert snap_compare(
        build(settings, frozen_time), run_before=run_before, terminal_size=(120, 24)
    )


# -- the events of three engines: the ORIGIN column, origin: and the detail ----------------

FLEET_EVENTS = [
    ("alpha", "deploy.failed", {"service": "billing", "error": "OOMKilled"}),
    (None, "custom", {"note": "fired here"}),
    ("beta", "deploy.started", {"service": "api", "version": "v2"}),
    ("[b]x[/b]\x1b[2J", "task.failed", {"task": "hostile origin"}),
    ("alpha", "agent.heartbeat_failed", {"agent": {"name": "web-1"}}),
]


async def seed_fleet(engine: EngineAPI) -> None:
    """Events taken in from other engines, through the intake's path (EngineAPI.mirror),
    and one of this engine's own."""
    for n, (origin, type_name, data) in enumerate(FLEET_EVENTS, start=1):
        if origin is None:
            await engine.dispatch(type_name, data, source="dashboard")
            continue
        event = ForeignEvent(
            key=f"{origin}:{n}", type=type_name, data=data, ts=T0 + n, origin=origin
        )
        batch = MirrorBatch(
            source="fleet", cursor_name="fleet-test", cursor=str(n), events=(event,)
        )
        await engine.mirror(batch)


async def test_origin_column_filter_and_detail(engine: Engine) -> None:
    app = build(engine)
    async with app.run_test(size=(120, 30)) as pilot:
        await seed_fleet(engine)
        await wait_for(pilot, lambda: "hostile origin" in screen_text(app), timeout=10)
        text = screen_text(app)
        assert "ORIGIN" in text and "alpha" in text and "beta" in text
        assert "[b]x[/b]␛[2J" in text  # a stranger's name, as written
        await pilot.press("slash", *"origin:alpha", "enter")
        await wait_for(pilot, lambda: "billing" in screen_text(app))
        await wait_for(pilot, lambda: "fired here" not in screen_text(app))
        assert "v2" not in screen_text(app)
        await pilot.press("slash", "ctrl+u", *"origin:@local", "enter")
        await wait_for(pilot, lambda: "fired here" in screen_text(app))
        await wait_for(pilot, lambda: "billing" not in screen_text(app))
        await pilot.press("enter")  # the detail of the one row left
        await wait_for(pilot, lambda: "note" in screen_text(app) and "status" in screen_text(app))
        assert "origin" not in screen_text(app).split("status")[0]  # own: no origin row
        await pilot.press("escape")
        await pilot.press("slash", "ctrl+u", *"origin:beta", "enter")
        await wait_for(
            pilot, lambda: "v2" in screen_text(app) and "billing" not in screen_text(app)
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: "origin" in screen_text(app) and "beta" in screen_text(app))


def test_fleet_events_snapshot(snap_compare, settings: Settings, frozen_time) -> None:
    async def run_before(pilot) -> None:
        await seed_fleet(pilot.app.engine)
        await wait_for(pilot, lambda: "hostile origin" in screen_text(pilot.app), timeout=10)
        await pilot.pause(0.3)

    app = build(settings, frozen_time)
    assert snap_compare(app, run_before=run_before, terminal_size=(120, 16))
