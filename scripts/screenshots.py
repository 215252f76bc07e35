"""Render every screen of the real dashboard to SVG, at 120x36 and 80x24, into screenshots/.

    /work/venv/bin/python scripts/screenshots.py [--out screenshots] [--only hooks,executions]

Each size gets a fresh temporary home with the same data: the demo's sample hooks (the
flaky one made deterministic) and a fixed stream of demo stories from a seeded random.
Event and run times come from a stepping fake clock from 2026-01-01 00:00 UTC, so the
files only change when the screens do. Runs on a temp home; never touches your data.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import sys
import tempfile
import time
import types
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sloth_tui.config import load_settings  # noqa: E402
from sloth_tui.engine import engine as engine_module  # noqa: E402
from sloth_tui.engine.engine import Engine  # noqa: E402
from sloth_tui.lua import context as context_module  # noqa: E402
from sloth_tui.lua import worker as worker_module  # noqa: E402
from sloth_tui.sources.demo import DEMO_HOOKS, Stories  # noqa: E402
from sloth_tui.tui.app import SlothApp  # noqa: E402
from sloth_tui.tui.sysinfo import SysInfo  # noqa: E402

SIZES = ((120, 36), (80, 24))
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
STORIES = 40
SEED = 7
FLAKY = """\
function on_event()
  if event.id % 4 == 0 then
    error("triage backend unavailable (demo: this hook fails now and then)")
  end
  log.info("triaged " .. event.type)
  return true
end
"""
PAGER_EDIT = """\
  local resp, problem = http.post("https://hooks.example.com/pager", {
    text = "deploy " .. tostring(d.deploy_id) .. " of " .. tostring(d.service) .. " failed",
  })
  if not resp then log.error("page failed: " .. problem) return false end
"""
SYSINFO = SysInfo(proc_cpu=3.0, proc_rss=80 * 2**20, host_cpu=12.0, host_mem=45.0, disk=61.0,
                  disk_free=100 * 2**30)  # fmt: skip

Shot = Callable[[Any, SlothApp], Awaitable[None]]


def freeze_clocks() -> None:
    """Event, run and log times from a stepping clock; durations from a stepping counter."""
    ticks = itertools.count()
    perf = itertools.count()
    fake = types.SimpleNamespace(
        **{name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
    )
    fake.time = lambda: T0 + next(ticks) * 0.25
    fake.perf_counter = lambda: next(perf) * 0.0013
    for module in (engine_module, worker_module, context_module):
        module.time = fake  # type: ignore[attr-defined]


async def seed(engine: Engine) -> None:
    """The demo's hooks, then a fixed run of its stories, each hook run to completion."""
    hooks_dir = engine.settings.hooks_dir
    hooks_dir.mkdir(parents=True, exist_ok=True)
    for name, (patterns, description, code) in DEMO_HOOKS.items():
        path = hooks_dir / f"{name.replace('-', '_')}.lua"
        path.write_text(FLAKY if name == "failure-triage" else code, encoding="utf-8")
        await engine.add_hook(name, patterns, path, description=description)
    stories = Stories(random.Random(SEED))
    makers = [stories.deploy, stories.workflow, stories.health, stories.security, stories.agent,
              stories.files, stories.system, stories.data_plane, stories.ops]  # fmt: skip
    rng = random.Random(SEED)
    for i in range(STORIES):
        maker = stories.deploy if i % 5 == 0 else rng.choice(makers)
        for _delay, type_name, data in maker()[:6]:
            await engine.dispatch(type_name, data, source="demo")
        await engine.wait_idle()


def has_events_screen(app: SlothApp) -> bool:
    return app.events_screen is not None


async def settle(pilot: Any, ready: Callable[[], bool] = lambda: True, wait: float = 0.4) -> None:
    deadline = time.monotonic() + 10
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError("screen did not get ready")
        await pilot.pause(0.05)
    await pilot.pause(wait)


# -- the shots: each starts on the Events screen of a fresh app --------------------------


async def events(pilot: Any, app: SlothApp) -> None:
    await settle(pilot, lambda: len(app.events_screen.feed) > 20)


async def event_detail(pilot: Any, app: SlothApp) -> None:
    failed = await app.engine.query_events(parse("type:deploy.failed"), limit=1)
    app.open_detail(failed[0].id)
    await settle(pilot, lambda: getattr(app.screen, "event", None) is not None)


async def fire(pilot: Any, app: SlothApp) -> None:
    await pilot.press("F", *"deploy.fa", "right", "enter")
    await settle(pilot, lambda: getattr(app.screen, "form_type", None) == "deploy.failed")


async def hooks(pilot: Any, app: SlothApp) -> None:
    await pilot.press("2")
    await settle(pilot, lambda: len(getattr(app.screen, "hooks", ())) == len(DEMO_HOOKS))


async def new_hook(pilot: Any, app: SlothApp) -> None:
    await hooks(pilot, app)
    await pilot.press("n", *"deploy-pager", "enter", *"deploy.fai", "right", "enter")
    await pilot.press(*"Page the on-call engineer when a deploy fails")
    await settle(pilot)


async def hook_editor(pilot: Any, app: SlothApp) -> None:
    await hooks(pilot, app)
    app.screen.select("deploy-alert")
    await pilot.press("e")
    await settle(pilot, lambda: type(app.screen).__name__ == "HookEditorScreen")
    editor = app.screen.editor
    editor.move_cursor((9, 0))
    editor.insert(PAGER_EDIT)  # unsaved: the dry run takes the buffer as it is
    editor.move_cursor((10, 4))
    await pilot.press("ctrl+r")
    await settle(pilot, lambda: app.screen.panel.last_dry is not None)


async def replay(pilot: Any, app: SlothApp) -> None:
    """The pager edit replayed (f5) over deploy-alert's recent real events."""
    await hooks(pilot, app)
    app.screen.select("deploy-alert")
    await pilot.press("e")
    await settle(pilot, lambda: type(app.screen).__name__ == "HookEditorScreen")
    app.screen.editor.move_cursor((9, 0))
    app.screen.editor.insert(PAGER_EDIT)
    await pilot.press("f5")
    await settle(pilot, lambda: getattr(app.screen, "report", None) is not None)


async def hook_settings(pilot: Any, app: SlothApp) -> None:
    """The settings beside the code (ctrl+t): a condition, a mode per service, a retry."""
    await hooks(pilot, app)
    app.screen.select("deploy-alert")
    await pilot.press("e")
    await settle(pilot, lambda: type(app.screen).__name__ == "HookEditorScreen")
    await pilot.press("ctrl+t")
    await settle(pilot)
    await pilot.press(*"service=payments !src:demo", "tab")
    await settle(pilot)


async def explain(pilot: Any, app: SlothApp) -> None:
    """Why each hook ran on a failed deploy, or why not (x on the event's detail)."""
    await event_detail(pilot, app)
    await pilot.press("x")
    await settle(pilot, lambda: type(app.screen).__name__ == "ExplainScreen")


async def trace(pilot: Any, app: SlothApp) -> None:
    """The tree a failed deploy belongs to (t on the event's detail)."""
    await event_detail(pilot, app)
    await pilot.press("t")
    await settle(pilot, lambda: type(app.screen).__name__ == "TraceScreen")


async def hook_editor_error(pilot: Any, app: SlothApp) -> None:
    await hooks(pilot, app)
    app.screen.select("health-escalation")
    await pilot.press("e")
    await settle(pilot, lambda: type(app.screen).__name__ == "HookEditorScreen")
    app.screen.editor.move_cursor((3, 0))
    await pilot.press(*"  if n >= then", "enter", "ctrl+s")
    app.clear_notifications()
    await settle(pilot)


async def executions(pilot: Any, app: SlothApp) -> None:
    await pilot.press("3")
    await settle(pilot, lambda: len(getattr(app.screen, "shown", ())) > 10)


async def execution_detail(pilot: Any, app: SlothApp) -> None:
    await executions(pilot, app)
    await pilot.press("slash", *"hook:deploy-alert dry:no", "enter")
    await settle(pilot, lambda: app.screen.shown and app.screen.shown[0].hook == "deploy-alert")
    await pilot.press("enter")
    await settle(pilot, lambda: getattr(app.screen, "event", None) is not None)
    await pilot.press("r")  # re-run its event on the current code, shown below
    await settle(pilot, lambda: app.screen.rerun_result is not None)


async def stats(pilot: Any, app: SlothApp) -> None:
    await pilot.press("4")
    await settle(pilot, wait=1.2)


async def catalog(pilot: Any, app: SlothApp) -> None:
    await pilot.press("5", "down", "down")
    await settle(pilot)


# Sources started by the "sources" shot, stopped once its app has closed.
_STARTED: list[Any] = []

SOURCES_CONFIG = """\
[[schedules]]
name = "nightly-backup"
cron = "0 2 * * *"
timezone = "Europe/Berlin"
workflow_name = "backup-databases"

[[schedules]]
name = "weekly-report"
cron = "0 8 * * MON"
event = "custom"
data = { name = "weekly-report" }

[[checks]]
name = "legacy-api"
kind = "tcp"
host = "127.0.0.1"
port = 9
timeout = 1

[sources.sloth_runner]
db = "sr/hooks.db"
"""


async def sources(pilot: Any, app: SlothApp) -> None:
    """The producers serve would run for a config with schedules, a check (on a closed
    port: it fails) and the Sloth Runner bridge on a small upstream file."""
    import sqlite3

    from sloth_tui.sources.registry import SourceOptions, build_sources
    from sloth_tui.sources.schedule_clock import ManualClock
    from sloth_tui.sources.upstream_db import UPSTREAM_SCHEMA
    from sloth_tui.sources.wiring import SourceSet

    engine = app.engine
    home = engine.settings.home
    (home / "sr").mkdir()
    upstream = sqlite3.connect(home / "sr" / "hooks.db")
    upstream.executescript(UPSTREAM_SCHEMA)
    now = int(time.time())
    for i in range(6):
        data = json.dumps({"task": {"task_name": f"build-{i}", "agent_name": "web-1"}})
        upstream.execute(
            "INSERT INTO events (id, type, data, status, timestamp, created_at, stack, agent) "
            "VALUES (?, 'task.completed', ?, 'completed', ?, ?, 'prod', 'web-1')",
            (f"u{i}", data, now, now),
        )
    upstream.commit()
    upstream.close()
    config = SOURCES_CONFIG.replace('db = "sr/hooks.db"', f'db = "{home / "sr" / "hooks.db"}"')
    (home / "config.toml").write_text(config)
    settings = load_settings(home)
    built = build_sources(
        settings, SourceOptions(), kinds={"schedules", "checks", "sloth_runner", "secrets"}
    )
    for source in built:
        if hasattr(source, "clock") and type(source).__name__ == "ScheduleSource":
            source.clock = ManualClock(T0 + 3600.0)
    wired = SourceSet(built)
    _STARTED.append(wired)
    await wired.start(engine)
    engine.report_sources(wired.health)
    engine.report_controls(wired)

    def caught_up() -> bool:
        figures = {h.name: h.events for h in wired.health()}
        return figures.get("sloth-runner", 0) >= 6 and figures.get("check:legacy-api", 0) >= 1

    await settle(pilot, caught_up)
    await pilot.press("6")
    await settle(pilot, wait=1.5)


async def help_keys(pilot: Any, app: SlothApp) -> None:
    await pilot.press("question_mark")
    await settle(pilot)


def parse(text: str) -> Any:
    from sloth_tui.model.filters import parse_filter

    return parse_filter(text)


SHOTS: dict[str, Shot] = {
    "events": events,
    "event-detail": event_detail,
    "fire": fire,
    "hooks": hooks,
    "new-hook": new_hook,
    "hook-editor": hook_editor,
    "hook-editor-error": hook_editor_error,
    "replay": replay,
    "hook-settings": hook_settings,
    "executions": executions,
    "execution-detail": execution_detail,
    "explain": explain,
    "trace": trace,
    "stats": stats,
    "catalog": catalog,
    "sources": sources,
    "help": help_keys,
}


async def render_size(size: tuple[int, int], names: list[str], out: Path) -> list[Path]:
    written = []
    with tempfile.TemporaryDirectory(prefix="sloth-shots-") as home:
        os.environ["HOME"] = home  # paths then read ~/hooks/..., whatever the temp name
        settings = load_settings(Path(home))
        engine = await Engine.open(settings, lifecycle=True)  # as a dashboard embeds it
        try:
            await seed(engine)
            await engine.store.flush()
            clock = T0 + 3600.0
            for name in names:
                app = SlothApp(engine, clock=lambda: clock, sysinfo=lambda: SYSINFO, tick=0.05)
                async with app.run_test(size=size) as pilot:
                    await settle(pilot, partial(has_events_screen, app))
                    await SHOTS[name](pilot, app)
                    app.clear_notifications()
                    for widget in app.screen.query("Input, TextArea"):
                        widget.cursor_blink = False  # type: ignore[attr-defined]
                    await pilot.pause(0.2)
                    path = out / f"{name}-{size[0]}x{size[1]}.svg"
                    title = f"sloth-tui · {name.replace('-', ' ')}"
                    path.write_text(app.export_screenshot(title=title), encoding="utf-8")
                    written.append(path)
                    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
                while _STARTED:
                    await _STARTED.pop().stop(None, "shot taken")
        finally:
            await engine.close(reason="screenshots done")
    return written


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--only", default="", help="comma-separated shot names")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(SHOTS)
    unknown = set(names) - SHOTS.keys()
    if unknown:
        parser.error(f"unknown shots: {', '.join(sorted(unknown))}; known: {', '.join(SHOTS)}")
    os.environ["TZ"] = "UTC"
    time.tzset()
    os.environ.pop("NO_COLOR", None)
    args.out.mkdir(parents=True, exist_ok=True)
    user_home = os.environ.get("HOME", "")
    try:
        for size in SIZES:
            freeze_clocks()  # the same times for each size
            print(f"{size[0]}x{size[1]}:")
            await render_size(size, names, args.out)
    finally:
        os.environ["HOME"] = user_home


if __name__ == "__main__":
    asyncio.run(main())
