"""Hook patterns: exact types, globs, several patterns per hook, disabled hooks."""

from __future__ import annotations

import pytest

from sloth_tui.engine.hooks import Matcher, check_hook_name, check_pattern, pattern_matches_catalog
from sloth_tui.model.errors import HookError
from sloth_tui.model.records import Hook


def names(hooks: list[Hook]) -> list[str]:
    return [h.name for h in hooks]


@pytest.fixture
def matcher() -> Matcher:
    m = Matcher()
    m.load(
        [
            Hook("exact", ["deploy.failed"], "/x.lua"),
            Hook("deploys", ["deploy.*"], "/x.lua"),
            Hook("failures", ["*.failed"], "/x.lua"),
            Hook("all", ["*"], "/x.lua"),
            Hook("multi", ["security.breach", "agent.*"], "/x.lua"),
            Hook("off", ["*"], "/x.lua", enabled=False),
        ]
    )
    return m


def test_exact_and_globs(matcher: Matcher) -> None:
    assert names(matcher.match("deploy.failed")) == ["exact", "deploys", "failures", "all"]
    assert names(matcher.match("deploy.started")) == ["deploys", "all"]
    assert names(matcher.match("task.failed")) == ["failures", "all"]
    assert names(matcher.match("custom")) == ["all"]


def test_several_patterns(matcher: Matcher) -> None:
    assert "multi" in names(matcher.match("security.breach"))
    assert "multi" in names(matcher.match("agent.connected"))
    assert "multi" not in names(matcher.match("security.login_failed"))


def test_disabled_hooks_are_skipped(matcher: Matcher) -> None:
    assert "off" not in names(matcher.match("deploy.failed"))


def test_glob_does_not_match_prefix_only(matcher: Matcher) -> None:
    assert "deploys" not in names(matcher.match("deployment.started"))


def test_reload_clears_cache(matcher: Matcher) -> None:
    assert names(matcher.match("task.started")) == ["all"]
    matcher.load([Hook("t", ["task.started"], "/x.lua")])
    assert names(matcher.match("task.started")) == ["t"]


@pytest.mark.parametrize("bad", ["", "Deploy.failed", "deploy failed", "deploy;drop"])
def test_bad_patterns_are_refused(bad: str) -> None:
    with pytest.raises(HookError, match="invalid event pattern"):
        check_pattern(bad)


@pytest.mark.parametrize("bad", ["", "-x", "a b", "x" * 65, "a/b"])
def test_bad_hook_names_are_refused(bad: str) -> None:
    with pytest.raises(HookError, match="invalid hook name"):
        check_hook_name(bad)


def test_catalog_match_check() -> None:
    assert pattern_matches_catalog("deploy.*")
    assert pattern_matches_catalog("*.failed")
    assert not pattern_matches_catalog("nothing.here")
