"""A misspelt event type in the fire dialog, the new-hook form and the test-fire panel gets
the engine's "did you mean" (what the CLI prints), before anything is fired or created."""

from __future__ import annotations

from textual.widgets import Input, Static
from tui_helpers import screen_text
from tui_helpers import wait_for as _wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.tui.format import typo_warning
from sloth_tui.tui.screens.fire import FireScreen
from sloth_tui.tui.screens.hook_editor import HookEditorScreen
from sloth_tui.tui.screens.new_hook import NewHookScreen, pattern_typo

SIZE = (120, 36)
DEPLOY = "unknown type deploy.faild: did you mean deploy.failed?"
WAIT = 15.0  # seconds: a bound, not a delay; the machine running the suite may be busy


async def wait_for(pilot, predicate, timeout: float = WAIT) -> None:
    await _wait_for(pilot, predicate, timeout)


async def shows(pilot, app, *texts: str) -> None:
    await wait_for(pilot, lambda: all(t in screen_text(app) for t in texts))


def says(screen, widget_id: str) -> str:
    """The plain text of a Static (the dialog wraps long lines on screen)."""
    return str(screen.query_one(widget_id, Static).content)


def test_the_warning_is_the_engines_and_covers_other_near_misses() -> None:
    assert typo_warning("deploy.faild") == DEPLOY
    assert typo_warning("sytem.cpu_high") == (  # a misspelt category: still close to a type
        "unknown type sytem.cpu_high: did you mean system.cpu_high?"
    )
    assert typo_warning("agent.disconected") == (
        "unknown type agent.disconected: did you mean agent.disconnected or agent.connected?"
    )
    for fine in ("deploy.failed", "custom", "", "myapp.started", "deploy.xyzzy"):
        assert typo_warning(fine) is None, fine
    assert pattern_typo("deploy.faild") == DEPLOY
    assert pattern_typo("deploy.fai*") is None  # a glob is not a spelling of one type


async def test_fire_dialog_says_did_you_mean(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        before = engine.stats().events_total
        await pilot.press("F", *"deploy.faild")
        fire = app.screen
        assert isinstance(fire, FireScreen)
        await shows(pilot, app, DEPLOY)  # while typing, in the hint line
        await pilot.press("ctrl+s")  # the first try shows the data and the warning
        await wait_for(
            pilot, lambda: says(fire, "#fire-error") == f"✗ {DEPLOY}; fire again to use it"
        )
        await shows(pilot, app, "did you mean deploy.failed?")
        assert isinstance(app.screen, FireScreen)
        assert engine.stats().events_total == before

        # Taking the hint: the catalog's form for the right type.
        fire.query_one("#fire-type", Input).value = "deploy.failed"
        await wait_for(pilot, lambda: fire.form_type == "deploy.failed" and not fire.raw_mode)
        assert "did you mean" not in screen_text(app)

        # A misspelt category close to a known type, and an unknown one that is not.
        fire.query_one("#fire-type", Input).value = "sytem.cpu_high"
        await shows(pilot, app, "did you mean system.cpu_high?")
        fire.query_one("#fire-type", Input).value = "myapp.started"
        await shows(pilot, app, "Not in the catalog: a new type")
        assert "did you mean" not in screen_text(app)

        # Fired anyway, on purpose: the engine keeps it, with the same warning.
        fire.query_one("#fire-type", Input).value = "deploy.faild"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "fire again to use it" in says(fire, "#fire-error"))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, FireScreen))
        await engine.store.flush()
        [event] = await engine.query_events(None, limit=1)
        assert (event.type, event.warnings) == ("deploy.faild", [DEPLOY])


async def test_new_hook_form_says_did_you_mean(engine: Engine, make_app) -> None:
    app = make_app(engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("2", "n")
        form = app.screen
        assert isinstance(form, NewHookScreen)
        form.query_one("#nh-name", Input).value = "typo"
        form.query_one("#nh-events", Input).value = "deploy.faild, myapp.*"
        await shows(pilot, app, f"⚠ {DEPLOY}", "⚠ myapp.* matches nothing in the catalog")
        await pilot.press("ctrl+s")  # allowed (custom types), with the hint in the toast
        await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
        [note] = [n for n in app._notifications if "matches nothing" in n.message]
        assert DEPLOY in note.message and note.severity == "warning"
        await shows(pilot, app, "did you mean deploy.failed?")
        assert (await engine.get_hook("typo")).events == ["deploy.faild", "myapp.*"]


async def test_test_fire_panel_says_did_you_mean(engine: Engine, make_app) -> None:
    path = engine.settings.hooks_dir / "h.lua"
    path.parent.mkdir(parents=True)
    path.write_text("function on_event() return true end\n")
    hook = await engine.add_hook("h", ["deploy.*"], path)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(HookEditorScreen(hook))
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, HookEditorScreen) and bool(app.screen.query("#tf-type")),
        )
        await pilot.pause()
        app.screen.query_one("#tf-type", Input).value = "deploy.faild"
        await wait_for(pilot, lambda: says(app.screen, "#tf-hint") == f"⚠ {DEPLOY}")
