"""`hook explain` agrees with what actually ran (issue 17's acceptance), over random hooks,
policies and events on a real engine: for every (event, hook), `would_run` is true exactly
when the hook has a run recorded on the event, and the outcome names each run's status."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine
from sloth_tui.model.policy import HookPolicy, Throttle

PATTERNS = ["deploy.*", "deploy.started", "task.*", "*.failed", "*", "custom.x"]
TYPES = ["deploy.started", "deploy.failed", "task.failed", "custom.x"]
STACKS = [None, "prod", "dev"]
# A small grammar over a few data fields, the source and the stack.
TERMS = [
    "service=web", "service=payments", "!service=web", "env=prod", "!env=dev", "n=1",
    "!n=2", "src:demo", "!src:demo", "stack:prod", "!stack:*", "type:deploy.*", "web",
    "missing=1",
]  # fmt: skip

hook_specs = st.lists(
    st.fixed_dictionaries(
        {
            "events": st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=2, unique=True),
            "stack": st.sampled_from(STACKS),
            "enabled": st.booleans(),
            "when": st.lists(st.sampled_from(TERMS), max_size=2).map(" ".join),
            "fails": st.booleans(),
            # Held-back runs are recorded too (skipped, with the reason): still a run.
            "mode": st.sampled_from(["parallel", "parallel", "single", "queued"]),
            "key": st.sampled_from(["", "data.service"]),
            "throttle": st.sampled_from([None, None, Throttle(1, 3600), Throttle(2, 3600)]),
            "dedupe": st.sampled_from([None, None, 3600.0]),
        }
    ),
    min_size=1,
    max_size=5,
)
event_specs = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(TYPES),
            "data": st.fixed_dictionaries(
                {},
                optional={
                    "service": st.sampled_from(["web", "payments"]),
                    "env": st.sampled_from(["prod", "dev"]),
                    "n": st.sampled_from([1, 2]),
                },
            ),
            "source": st.sampled_from(["cli", "demo"]),
            "stack": st.sampled_from(STACKS),
        }
    ),
    min_size=1,
    max_size=6,
)


def test_explain_agrees_with_what_ran(tmp_path: Path) -> None:
    ok = tmp_path / "ok.lua"
    ok.write_text("function on_event() end")
    boom = tmp_path / "boom.lua"
    boom.write_text('function on_event() error("boom") end')
    home = tmp_path / "home"
    home.mkdir()
    # One engine and one loop for every example: each starts by removing the last hooks.
    with asyncio.Runner() as runner:
        engine = runner.run(Engine.open(load_settings(home)))
        try:

            @settings(
                max_examples=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
                phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
            )
            @given(hook_specs, event_specs)
            def check(hooks: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
                runner.run(_check(engine, ok, boom, hooks, events))

            check()
        finally:
            runner.run(engine.close())


async def _check(
    engine: Engine, ok: Path, boom: Path, hooks: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    for old in await engine.list_hooks():
        await engine.delete_hook(old.name)
    names = []
    for i, spec in enumerate(hooks):
        name = f"h{i}"
        names.append(name)
        await engine.add_hook(
            name,
            spec["events"],
            boom if spec["fails"] else ok,
            stack=spec["stack"],
            enabled=spec["enabled"],
        )
        policy = HookPolicy(
            when=spec["when"],
            mode=spec["mode"],
            key=spec["key"],
            throttle=spec["throttle"],
            dedupe=spec["dedupe"],
        )
        if not policy.is_default:
            await engine.update_hook(name, policy=policy)
    dispatched = [
        await engine.dispatch(e["type"], e["data"], source=e["source"], stack=e["stack"])
        for e in events
    ]
    assert await engine.wait_idle()
    for event in dispatched:
        runs = [ex for ex in await engine.executions_of(event.id) if not ex.dry_run]
        verdicts = {v.hook: v for v in await engine.explain(event.id)}
        assert sorted(verdicts) == names
        for name in names:
            mine = [ex for ex in runs if ex.hook == name]
            v = verdicts[name]
            assert v.would_run == bool(mine), (event, name, v, mine)
            if mine:
                assert [r.status for r in v.runs] == [ex.status for ex in mine]
                for ex in mine:
                    assert ex.status in v.outcome, (v.outcome, ex.status)
            else:
                assert v.outcome.startswith("not run: "), v.outcome
