"""The detail screen (Enter) and the fire dialog (F)."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Input, TextArea
from tui_helpers import screen_text, wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.tui.screens.confirm import ConfirmScreen
from sloth_tui.tui.screens.detail import DetailScreen
from sloth_tui.tui.screens.events import EventsScreen
from sloth_tui.tui.screens.fire import FireScreen

CHAIN_HOOK = """\
function on_event()
  log.info("rolling back " .. event.data.service)
  event.dispatch("deploy.rollback", {deploy_id = event.data.deploy_id, service = event.data.service,
                                     prev_version = "v1", reason = "auto"})
  return true
end
"""
FAILED = {"deploy_id": "d-42", "service": "payments", "error": "OOMKilled", "rollback_needed": True}


async def test_detail_shows_data_meta_runs_and_children(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    hook = tmp_path / "rollback.lua"
    hook.write_text(CHAIN_HOOK)
    await engine.add_hook("rollback", ["deploy.failed"], hook)
    parent = await engine.dispatch("deploy.failed", FAILED, source="demo")
    await engine.wait_idle()
    child = (await engine.child_events(parent.id))[0]
    app = make_app(engine)
    async with app.run_test(size=(100, 40)) as pilot:
        events = app.screen
        assert isinstance(events, EventsScreen)
        await wait_for(pilot, lambda: len(events.feed) == 3)
        await pilot.press("up", "enter")  # cursor: the tail is the child; up is the parent
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.event)
        detail = app.screen
        assert detail.event.id == parent.id
        await wait_for(pilot, lambda: f"{child.id}  deploy.rollback" in screen_text(app))
        text = screen_text(app)
        assert '"service": "payments"' in text and '"rollback_needed": true' in text
        assert "source    demo" in text and "status    completed" in text
        assert "rollback" in text and "success" in text  # the hook run, with its duration
        assert f"{child.id}  deploy.rollback" in text  # the child event it caused

        await pilot.press("y")
        assert json.loads(app.clipboard)["data"] == FAILED

        await pilot.press("r")
        await wait_for(
            pilot,
            lambda: any(
                e.source == "dashboard" and e.type == "deploy.failed" for e in events.feed.rows
            ),
        )

        # open the child, then jump back up to its parent with `u`
        await pilot.press("escape")
        await pilot.press("end", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.event)
        latest = app.screen.event
        assert latest.type in ("deploy.rollback", "deploy.failed")
        await pilot.press("escape")
        app.open_detail(child.id)
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, DetailScreen)
                and app.screen.event
                and app.screen.event.id == child.id
            ),
        )
        await pilot.press("u")
        await wait_for(pilot, lambda: app.screen.event and app.screen.event.id == parent.id)
        await pilot.press("escape", "escape")
        assert app.screen is events


async def test_detail_reruns_the_hooks_for_real_after_asking(
    engine: Engine, make_app, tmp_path: Path
) -> None:
    hook = tmp_path / "notify.lua"
    hook.write_text('function on_event() error("webhook down") end\n')
    await engine.add_hook("notify", ["deploy.failed"], hook)
    event, _ = await engine.dispatch_and_run("deploy.failed", FAILED, source="demo")
    app = make_app(engine)
    async with app.run_test(size=(100, 40)) as pilot:
        app.open_detail(event.id)
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.event)
        detail = app.screen
        await wait_for(pilot, lambda: "webhook down" in screen_text(app))
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await wait_for(pilot, lambda: "Re-run for real [y]" in screen_text(app))
        assert "Cancel [esc]" in screen_text(app)  # the keys show on the buttons
        await pilot.press("escape")  # cancelled: nothing runs
        await wait_for(pilot, lambda: app.screen is detail)
        await pilot.pause(0.2)  # negative: a chance for a wrongly started re-run to be recorded
        assert len(await engine.executions_of(event.id)) == 1

        hook.write_text('function on_event() log.info("sent to ops") end\n')
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: len(detail.executions) == 2, timeout=10)
        assert [r.status for r in detail.executions] == ["error", "success"]
        await wait_for(pilot, lambda: detail.event.status == "completed")
        await wait_for(pilot, lambda: "sent to ops" in screen_text(app))
        assert any(
            n.message == f"Re-ran 1 hook on event {event.id}: 1 ok, 0 not"
            for n in app._notifications
        )


async def test_fire_dialog_fires_a_valid_event(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("F")
        assert isinstance(app.screen, FireScreen)
        await pilot.press(*"deploy.fai", "right", "enter")  # completion, then the form
        fire = app.screen
        await wait_for(pilot, lambda: fire.form_type == "deploy.failed")
        field = fire.query_one("#field-1", Input)  # service
        field.value = "checkout"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, FireScreen))
        await engine.store.flush()
        [ev] = await engine.query_events(None, limit=1)
        assert (ev.type, ev.source, ev.data["service"]) == (
            "deploy.failed",
            "dashboard",
            "checkout",
        )
        assert ev.data["rollback_needed"] is True  # non-string samples parse as JSON
        events = app.screen
        await wait_for(pilot, lambda: events.feed.rows[-1].id == ev.id)


async def test_fire_dialog_refuses_invalid_input_with_a_message(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        before = engine.stats().events_total
        await pilot.press("F", *"Bad Type", "enter")
        fire = app.screen
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "invalid event type" in screen_text(app))
        assert isinstance(app.screen, FireScreen)

        fire.query_one("#fire-type", Input).value = "workflow.failed"
        await wait_for(pilot, lambda: fire.form_type == "workflow.failed")
        fire.query_one("#field-1", Input).value = "not json"  # failed_tasks[]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "failed_tasks: must be a JSON list" in screen_text(app))

        await pilot.press("ctrl+t")  # still invalid: the form refuses to switch
        assert not fire.raw_mode
        fire.query_one("#field-1", Input).value = '["a"]'
        await pilot.press("ctrl+t")
        assert fire.raw_mode
        fire.query_one("#fire-raw", TextArea).text = '{"workflow_name": '
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "raw JSON" in screen_text(app))
        assert engine.stats().events_total == before  # nothing was fired

        fire.query_one("#fire-raw", TextArea).text = '{"workflow_name": "w", "x": 1}'
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, FireScreen))
        assert engine.stats().events_total == before + 1


async def test_new_type_and_custom_fire_from_raw_json(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_fire("billing.invoice_paid")
        await wait_for(pilot, lambda: isinstance(app.screen, FireScreen) and app.screen.raw_mode)
        app.screen.query_one("#fire-raw", TextArea).text = '{"amount": 12}'
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, FireScreen))
        await engine.store.flush()
        [ev] = await engine.query_events(None, limit=1)
        assert (ev.type, ev.data) == ("billing.invoice_paid", {"amount": 12})
        await pilot.press("F", "escape")
        assert not isinstance(app.screen, FireScreen)
