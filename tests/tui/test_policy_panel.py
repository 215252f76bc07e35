"""The hook editor's settings panel (ctrl+t): policies beside the code, checked as typed,
saved with the code by ctrl+s, refused whole when one is bad.

Real engine on a tmp home, real hook file, the real App driven by keys.
"""

from __future__ import annotations

import re
from pathlib import Path

from hostile import SAMPLES, hostile_text
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from textual.widgets import Input
from tui_helpers import screen_text, wait_for

from sloth_tui.engine.engine import Engine
from sloth_tui.model.policy import HookPolicy, PolicyError, Retry, Throttle, parse_when
from sloth_tui.tui.screens.hook_editor import HookEditorScreen
from sloth_tui.tui.widgets.lua_editor import LuaEditor
from sloth_tui.tui.widgets.policy_panel import build_policy, policy_texts

SIZE = (100, 30)  # the smallest the brief asks the panel to work at
CODE = "function on_event()\n  return true\nend\n"
# What must never reach the terminal (tests/tui/test_hostile_screens.py's rule).
FORBIDDEN_RE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


async def shows(pilot, app, *texts: str, timeout: float = 10.0) -> None:
    await wait_for(pilot, lambda: all(t in screen_text(app) for t in texts), timeout)


async def make_hook(engine: Engine, name: str = "pay") -> Path:
    path = engine.settings.hooks_dir / f"{name}.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CODE)
    await engine.add_hook(name, ["deploy.*"], path)
    return path


async def open_settings(pilot, app, engine: Engine, name: str = "pay") -> HookEditorScreen:
    app.push_screen(HookEditorScreen(await engine.get_hook(name)))
    await wait_for(pilot, lambda: isinstance(app.screen, HookEditorScreen))
    screen = app.screen
    assert isinstance(screen, HookEditorScreen)
    await wait_for(pilot, lambda: bool(screen.query(LuaEditor)) and screen.editor.has_focus)
    await pilot.press("ctrl+t")
    await wait_for(pilot, lambda: screen.policy_panel.display and screen.has_class("-settings"))
    return screen


async def type_into(pilot, screen: HookEditorScreen, field_id: str, text: str) -> None:
    box = screen.query_one(f"#{field_id}", Input)
    box.focus()
    box.value = ""
    await pilot.press(*text)
    await pilot.pause()


async def test_bad_values_show_under_their_field_and_block_the_save(
    engine: Engine, make_app
) -> None:
    path = await make_hook(engine)
    app = make_app(engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_settings(pilot, app, engine)
        await shows(pilot, app, "Settings", "ctrl+t shows the test-fire panel", "ctrl+s saves")
        panel = screen.policy_panel
        editor = screen.query_one(LuaEditor)
        edited = CODE.replace("true", "false")
        editor.replace_all(edited)

        # A condition that does not parse: the error shows under it as it is typed.
        await type_into(pilot, screen, "pp-when", "srcc:demo")
        assert "pp-when" in panel.errors
        await shows(pilot, app, "✗ when:")
        await pilot.press("ctrl+s")
        await shows(pilot, app, "not saved")
        assert path.read_text() == CODE  # the code is not saved either
        assert (await engine.get_hook("pay")).policy.is_default
        # A term about the moment is refused, with why.
        await type_into(pilot, screen, "pp-when", "since:1h")
        await shows(pilot, app, "✗ when: since:")
        assert panel.errors["pp-when"] == "when: since: is about the moment, not the event"
        await type_into(pilot, screen, "pp-when", "service=payments")
        assert "pp-when" not in panel.errors

        # A throttle that is not COUNT/WINDOW.
        await type_into(pilot, screen, "pp-throttle", "5 per minute")
        await shows(pilot, app, "✗ throttle:")
        assert "is not COUNT/WINDOW" in panel.errors["pp-throttle"]
        await pilot.press("ctrl+s")
        await shows(pilot, app, "not saved: throttle:")
        assert path.read_text() == CODE
        await type_into(pilot, screen, "pp-throttle", "5/1m")

        # A key that is not a data path.
        await type_into(pilot, screen, "pp-key", "service")
        await shows(pilot, app, "✗ key:")
        assert "is not a data path" in panel.errors["pp-key"]
        await pilot.press("ctrl+s")
        await shows(pilot, app, "not saved: key:")
        assert path.read_text() == CODE
        assert (await engine.get_hook("pay")).policy.is_default

        # Retry: a delay without attempts, then absurd attempts, are refused.
        await type_into(pilot, screen, "pp-delay", "2s")
        await shows(pilot, app, "✗ retry:")
        assert "attempts is missing" in panel.errors["pp-attempts"]
        await type_into(pilot, screen, "pp-attempts", "50")
        await shows(pilot, app, "✗ retry attempts:")
        assert "from 1 to 10, not 50" in panel.errors["pp-attempts"]
        assert (await engine.get_hook("pay")).policy.is_default


async def test_good_values_are_saved_with_the_code_and_shown_again(
    engine: Engine, make_app
) -> None:
    path = await make_hook(engine)
    app = make_app(engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_settings(pilot, app, engine)
        edited = CODE.replace("true", "false")
        screen.query_one(LuaEditor).replace_all(edited)
        for field_id, text in [
            ("pp-when", "service=payments !src:demo"),
            ("pp-mode", "single"),
            ("pp-key", "data.service"),
            ("pp-attempts", "3"),
            ("pp-delay", "0.5"),
            ("pp-backoff", "3"),
            ("pp-throttle", "5/1m"),
            ("pp-dedupe", "10m"),
            ("pp-auto", "50"),
        ]:
            await type_into(pilot, screen, field_id, text)
        await pilot.click("#pp-on-failed")
        assert screen.policy_panel.errors == {}
        await shows(pilot, app, "● modified")
        await pilot.press("ctrl+s")
        await shows(pilot, app, "saved pay.lua")
        hook = await engine.get_hook("pay")
        assert path.read_text() == edited
        assert hook.policy == HookPolicy(
            when="service=payments !src:demo",
            mode="single",
            key="data.service",
            retry=Retry(3, 0.5, 3.0, on_failed=True),
            throttle=Throttle(5, 60.0),
            dedupe=600.0,
            auto_disable=50,
        )
        assert not screen.dirty
        await pilot.press("escape")  # nothing unsaved: no question
        await wait_for(pilot, lambda: not isinstance(app.screen, HookEditorScreen))

        # Opened again, the panel shows what the engine has.
        screen = await open_settings(pilot, app, engine)
        texts = screen.policy_panel.texts()
        assert texts["pp-when"] == "service=payments !src:demo"
        assert texts["pp-throttle"] == "5/1m" and texts["pp-dedupe"] == "10m"
        assert texts["pp-delay"] == "0.5" and texts["pp-auto"] == "50"
        assert not screen.dirty
        await shows(pilot, app, "service=payments !src:demo")

        # Emptying the fields takes the policy off again.
        for field_id in texts:
            await type_into(pilot, screen, field_id, "")
        await wait_for(pilot, lambda: "pp-attempts" in screen.policy_panel.errors)
        assert "attempts is missing" in screen.policy_panel.errors["pp-attempts"]
        screen.query_one("#pp-on-failed").focus()
        await pilot.press("space")  # on_failed off too: no retry at all
        await wait_for(pilot, lambda: screen.policy_panel.errors == {})
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not screen.dirty)
        assert (await engine.get_hook("pay")).policy.is_default


async def test_settings_only_edit_counts_as_unsaved_and_ctrl_t_goes_back(
    engine: Engine, make_app
) -> None:
    await make_hook(engine)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_settings(pilot, app, engine)
        await type_into(pilot, screen, "pp-mode", "queued")
        await shows(pilot, app, "● settings modified")
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: not screen.has_class("-settings"))
        assert screen.query_one(LuaEditor).has_focus
        await pilot.press("escape")  # unsaved settings: the editor asks
        await shows(pilot, app, "unsaved changes (its settings)")


async def test_the_disabled_reason_shows_as_text(engine: Engine, make_app) -> None:
    await make_hook(engine)
    reason = "[bold red]failed 50 times[/] in a row; last: \x1b[2Jboom"
    await engine.update_hook("pay", enabled=False, disabled_reason=reason)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(HookEditorScreen(await engine.get_hook("pay")))
        await shows(pilot, app, "disabled by the engine: ctrl+t says why")
        await pilot.press("ctrl+t")
        await shows(pilot, app, "⚠ disabled: [bold red]failed 50", "␛[2Jboom")
        text = screen_text(app)
        assert "\x1b" not in text and "␛[2Jboom" in text


async def test_narrow_terminal_shows_the_settings_in_place_of_the_code(
    engine: Engine, make_app
) -> None:
    await make_hook(engine)
    app = make_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_settings(pilot, app, engine)
        assert screen.has_class("-narrow", "-show-panel")
        await shows(pilot, app, "Settings", "when")
        assert not screen.panel.display and "Test-fire" not in screen_text(app)
        assert (
            not screen.query_one(LuaEditor).display
            or not screen.query_one("#wb-editor-pane").display
        )
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: not screen.has_class("-show-panel"))


# -- hostile text into the condition field -------------------------------------------------


@settings(
    max_examples=4,  # each example opens the dashboard once and types many strings
    phases=[Phase.explicit, Phase.generate],  # no shrinking: an example costs a dashboard
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(texts=st.lists(hostile_text(80), min_size=1, max_size=8))
async def test_any_text_in_the_when_field(engine: Engine, make_app, texts: list[str]) -> None:
    """Markup, control characters, huge and odd unicode: the field agrees with parse_when
    (an error or not), nothing crashes, and no control byte reaches the terminal."""
    if await engine.list_hooks() == []:
        await make_hook(engine)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_settings(pilot, app, engine)
        panel = screen.policy_panel
        box = screen.query_one("#pp-when", Input)
        for text in [*texts, *SAMPLES[-2:]]:
            box.value = ""
            box.insert_text_at_cursor(text)  # as a paste arrives
            await pilot.pause()
            if FORBIDDEN_RE.search(text):
                assert box.value == "", "a paste with a control character is refused whole"
            else:
                assert box.value == text
            await wait_for(pilot, lambda: screen.policy_panel.texts()["pp-when"] == box.value)
            try:
                parse_when(box.value)
                expected = False
            except PolicyError:
                expected = True
            await wait_for(pilot, lambda e=expected: ("pp-when" in panel.errors) is e)
            rendered = screen_text(app)
            assert not FORBIDDEN_RE.search(rendered.replace("\n", " ")), repr(text[:80])
        await pilot.press("ctrl+s")  # a save with whatever is left: refused or saved, no crash
        await pilot.pause()


# -- the panel's text round trip, without a screen ------------------------------------------


@settings(max_examples=200, deadline=None, database=None)
@given(
    attempts=st.integers(1, 10),
    delay=st.sampled_from([0.0, 0.25, 1.0, 1.5, 30.0, 90.0, 3600.0]),
    backoff=st.sampled_from([1.0, 1.5, 2.0, 10.0]),
    on_failed=st.booleans(),
    count=st.integers(1, 1000),
    window=st.sampled_from([0.5, 1.0, 60.0, 90.0, 86400.0 * 7]),
    dedupe=st.sampled_from([None, 0.001, 2.5, 600.0, 3661.0]),
    auto=st.one_of(st.none(), st.integers(1, 1_000_000)),
)
def test_fields_read_back_the_policy_they_show(
    attempts: int,
    delay: float,
    backoff: float,
    on_failed: bool,
    count: int,
    window: float,
    dedupe: float | None,
    auto: int | None,
) -> None:
    policy = HookPolicy(
        when="service=payments",
        mode="restart",
        key="data.a.b",
        retry=Retry(attempts, delay, backoff, on_failed),
        throttle=Throttle(count, window),
        dedupe=dedupe,
        auto_disable=auto,
    )
    assert build_policy(policy_texts(policy), on_failed) == policy
