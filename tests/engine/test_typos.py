"""A misspelt event type in a known category is flagged at the engine's door."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sloth_tui.config import Settings
from sloth_tui.engine import events
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.events import catalog_warnings, check_event
from sloth_tui.model.errors import EventRefused


async def test_a_typo_is_kept_with_a_warning_naming_the_closest_type(engine: Engine) -> None:
    event = await engine.dispatch("deploy.faild", {"service": "api"}, source="cli")
    stored = await engine.get_event(event.id)
    assert stored.warnings == ["unknown type deploy.faild: did you mean deploy.failed?"]
    assert stored.type == "deploy.faild" and stored.data == {"service": "api"}


async def test_strict_refuses_a_typo(engine: Engine) -> None:
    with pytest.raises(EventRefused, match=r"did you mean deploy\.failed"):
        await engine.dispatch("deploy.faild", {}, source="cli", strict=True)
    assert not [e for e in await engine.query_events(limit=50) if e.type == "deploy.faild"]


async def test_strict_setting_refuses_a_typo(settings: Settings) -> None:
    engine = await Engine.open(replace(settings, strict=True))
    try:
        with pytest.raises(EventRefused, match=r"unknown type restore\.faild"):
            await engine.dispatch("restore.faild", {}, source="socket")
    finally:
        await engine.close()


async def test_unknown_categories_and_known_types_get_no_typo_warning(engine: Engine) -> None:
    mine = await engine.dispatch("myapp.started", {"anything": 1}, source="cli", strict=True)
    assert mine.warnings == []
    custom = await engine.dispatch(
        "custom", {"name": "n", "message": "m", "payload": {}}, source="cli", strict=True
    )
    assert custom.warnings == []


def test_the_warning_names_the_closest_types_same_category_first() -> None:
    assert events.unknown_type_warning("deploy.faild") == (
        "unknown type deploy.faild: did you mean deploy.failed?"
    )
    assert events.unknown_type_warning("file.create") == (
        "unknown type file.create: did you mean file.created?"
    )
    assert events.unknown_type_warning("deploy.failed") is None
    assert events.unknown_type_warning("custom") is None
    assert events.unknown_type_warning("myapp.faild") is None  # not a catalog category
    assert events.unknown_type_warning("custom.faild") is None  # custom is a type, not a category
    # Nothing close: still unknown in a catalog category, said without a guess.
    far = events.unknown_type_warning("deploy.xyzzy")
    assert far is not None and far.startswith("unknown type deploy.xyzzy: ")
    assert "did you mean" not in far and "event types --category deploy" in far


def test_check_event_and_catalog_warnings_agree() -> None:
    checked = check_event("deploy.faild", {}, strict=False)
    assert checked.warnings == catalog_warnings("deploy.faild", {})
    assert checked.warnings == ["unknown type deploy.faild: did you mean deploy.failed?"]
    with pytest.raises(EventRefused, match="strict"):
        check_event("deploy.faild", {}, strict=True)


def test_a_lone_surrogate_is_refused_not_a_crash() -> None:
    # json.loads('"\\ud800"') makes one; SQLite cannot store it as UTF-8.
    with pytest.raises(EventRefused, match="UTF-8"):
        check_event("custom", {"x": "\ud800"}, strict=False)
    with pytest.raises(EventRefused, match="UTF-8"):
        check_event("custom", {"\udfff": 1}, strict=False)
    assert check_event("custom", {"x": "é🦥"}, strict=False).data == {"x": "é🦥"}


async def test_the_engine_refuses_a_lone_surrogate(engine: Engine) -> None:
    with pytest.raises(EventRefused):
        await engine.dispatch("custom", {"x": "a\ud800b"}, source="socket")
    # The engine is still fine afterwards.
    ok = await engine.dispatch("custom", {"x": "fine"}, source="socket")
    assert (await engine.get_event(ok.id)).data == {"x": "fine"}


async def test_a_source_with_a_lone_surrogate_is_refused_alone(settings: Settings) -> None:
    """It could not be stored, and its write failed the whole round: others' events too."""
    engine = await Engine.open(settings)
    try:
        results = await engine.dispatch_batch(
            [
                ("custom", {"name": "a", "message": "m"}, "socket:ok", None),
                ("custom", {"name": "b", "message": "m"}, "socket:\ud800", None),
                ("custom", {"name": "c", "message": "m"}, "socket:é", None),
            ]
        )
        assert isinstance(results[1], EventRefused) and "UTF-8" in str(results[1])
        stored = await engine.query_events(None, limit=10)
        assert sorted(e.data["name"] for e in stored) == ["a", "c"]
    finally:
        await engine.close()
