"""Validation at the engine's door: names, data shape and size, catalog warnings, strict mode."""

from __future__ import annotations

import pytest

from sloth_tui import catalog
from sloth_tui.engine.events import MAX_DATA_BYTES, check_event, check_type_name
from sloth_tui.model.errors import EventRefused


@pytest.mark.parametrize("name", ["deploy.failed", "custom", "my_app.thing_2", "x.y"])
def test_valid_names(name: str) -> None:
    assert check_type_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "deploy",
        "Deploy.failed",
        "a.b.c",
        "deploy.",
        ".failed",
        "deploy failed",
        "deploy-x.failed",
        "custom.",
        42,
        None,
    ],
)
def test_invalid_names_are_refused_with_the_rule(name: object) -> None:
    with pytest.raises(EventRefused, match="event type"):
        check_type_name(name)


def test_catalog_sample_has_no_warnings_for_every_type() -> None:
    for spec in catalog.types():
        checked = check_event(spec.type, catalog.sample_data(spec.type), strict=True)
        assert checked.warnings == [], spec.type
        assert checked.category == spec.category


def test_missing_field_and_wrong_kind_become_warnings() -> None:
    data = catalog.sample_data("workflow.failed")
    del data["error"]
    data["failed_tasks"] = "build"  # should be a list
    checked = check_event("workflow.failed", data, strict=False)
    assert checked.warnings == [
        "field failed_tasks should be a list, got str",
        "missing field error",
    ]


def test_nested_dotted_fields_are_checked() -> None:
    data = {"agent": {"name": "a1"}, "last_seen": "x"}
    assert check_event("agent.disconnected", data, strict=True).warnings == []
    checked = check_event("agent.disconnected", {"agent": "a1", "last_seen": "x"}, strict=False)
    assert checked.warnings == ["missing field agent.name"]


def test_object_kind_checked_for_custom_payload() -> None:
    checked = check_event("custom", {"name": "n", "message": "m", "payload": [1]}, strict=False)
    assert checked.warnings == ["field payload should be an object, got list"]


def test_strict_mode_refuses_mismatches_and_names_them() -> None:
    with pytest.raises(EventRefused, match=r"strict mode.*missing field service"):
        check_event(
            "deploy.failed", {"deploy_id": "d", "error": "e", "rollback_needed": False}, strict=True
        )


def test_unknown_well_formed_type_is_accepted_without_warnings() -> None:
    checked = check_event("myapp.started", {"anything": 1}, strict=True)
    assert checked.warnings == []
    assert checked.category == "myapp"


@pytest.mark.parametrize("data", [[1, 2], "text", 3, True])
def test_data_must_be_an_object(data: object) -> None:
    with pytest.raises(EventRefused, match="must be a JSON object"):
        check_event("custom", data, strict=False)


def test_none_data_is_an_empty_object() -> None:
    assert check_event("myapp.ping", None, strict=False).data == {}


def test_oversized_data_is_refused_with_its_size() -> None:
    with pytest.raises(EventRefused, match=f"the limit is {MAX_DATA_BYTES}"):
        check_event("custom", {"blob": "x" * MAX_DATA_BYTES}, strict=False)


def test_data_at_the_size_limit_is_accepted() -> None:
    overhead = len('{"blob":""}')
    check_event("custom", {"blob": "x" * (MAX_DATA_BYTES - overhead)}, strict=False)


def _nested(levels: int) -> dict:
    data: dict = {}
    for _ in range(levels - 1):
        data = {"a": data}
    return data


def test_nesting_limit() -> None:
    check_event("custom", _nested(32), strict=False)
    with pytest.raises(EventRefused, match="nests 33 levels deep"):
        check_event("custom", _nested(33), strict=False)


def test_braces_in_strings_do_not_count_as_nesting() -> None:
    check_event("custom", {"text": "{" * 100}, strict=False)


def test_non_json_values_are_refused() -> None:
    with pytest.raises(EventRefused, match="not JSON-serialisable"):
        check_event("custom", {"x": object()}, strict=False)
    with pytest.raises(EventRefused, match="not JSON-serialisable"):
        check_event("custom", {"x": float("nan")}, strict=False)
