"""`sloth-tui bridge sloth-runner`: follow a Sloth Runner hooks.db from the command line.

The same bridge `serve` runs from [sources.sloth_runner] (sources/sloth_runner.py), in
the foreground: into the daemon when one runs, else into this data dir's store.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import replace
from typing import TYPE_CHECKING

import click

from sloth_tui.commands.common import emit_json, engine_for, run
from sloth_tui.commands.output import say
from sloth_tui.model.errors import SlothError

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI
    from sloth_tui.sources.sloth_runner import SlothRunnerBridge

STATUS_EVERY = 5.0  # seconds between status lines while something changes


@click.group("bridge")
def bridge_group() -> None:
    """Mirror another event engine's store into this one."""


@bridge_group.command("sloth-runner")
@click.option(
    "--db",
    metavar="PATH",
    default=None,
    help="Sloth Runner's hooks.db, or the data dir holding it. Default: where Sloth Runner "
    "keeps it: $SLOTH_RUNNER_DATA_DIR, else /etc/sloth-runner, else ~/.sloth-runner, "
    "else ./.sloth-cache.",
)
@click.option(
    "--run-hooks",
    is_flag=True,
    help="Also run this engine's own hooks on the bridged events. Without it they are "
    "shown only: Sloth Runner already ran its hooks, and its runs are mirrored as its own.",
)
@click.option(
    "--once",
    is_flag=True,
    help="Take in everything new, then exit (0; 1 when the file cannot be read).",
)
@click.option(
    "--poll",
    type=click.FloatRange(0.05, 3600),
    default=None,
    help="Seconds between reads once caught up (default 1, or [sources.sloth_runner] "
    "poll_interval).",
)
@click.option("--json", "as_json", is_flag=True, help="With --once: print the figures as JSON.")
@click.pass_context
def bridge_sloth_runner(
    ctx: click.Context,
    db: str | None,
    run_hooks: bool,
    once: bool,
    poll: float | None,
    as_json: bool,
) -> None:
    """Follow a live Sloth Runner hooks.db, read-only, and mirror it here.

    New rows of its `events` table become events with source `sloth-runner` (stack, agent
    and run id kept, data as it comes); its `event_hook_executions` become runs marked as
    Sloth Runner's, shown and never re-run. A cursor stored with each batch makes a
    restart neither lose nor repeat a row, even after kill -9. The file is never written;
    while it is missing, locked, truncated or replaced, the bridge says why and retries.
    Runs until Ctrl-C or SIGTERM (or, with --once, until caught up).
    """
    from sloth_tui.commands.common import settings_from
    from sloth_tui.sources.sloth_runner import BridgeSettings, SlothRunnerBridge, bridge_settings

    try:
        config = bridge_settings(settings_from(ctx)) or BridgeSettings()
    except SlothError as exc:
        raise click.ClickException(str(exc)) from None
    bridge = SlothRunnerBridge(
        replace(
            config,
            enabled=True,  # asked for by name: `enabled = false` is for serve
            db=db if db is not None else config.db,
            run_hooks=run_hooks or config.run_hooks,
            poll_interval=poll if poll is not None else config.poll_interval,
        )
    )

    async def body() -> None:
        async with engine_for(ctx) as api:
            if once:
                await _catch_up(api, bridge, as_json)
            else:
                await _follow(api, bridge)

    run(body)


async def _catch_up(api: EngineAPI, bridge: SlothRunnerBridge, as_json: bool) -> None:
    bridge.api = api
    while await bridge.poll_once():
        pass
    if bridge.reader is not None:
        bridge.reader.close()
    figures = {
        "db": str(bridge.reader.path) if bridge.reader else None,
        "events": bridge.events,
        "runs": bridge.runs,
        "refused": bridge.refused,
        "orphans": bridge.orphans,
        "lag": bridge.lag,
    }
    if as_json:
        emit_json(figures)
    else:
        say(f"sloth-runner bridge: caught up · {bridge.health().detail}")
    if api.remote is False:
        await api.wait_idle()  # --run-hooks on a local engine: let the runs finish


def _summary(bridge: SlothRunnerBridge) -> str:
    health = bridge.health()
    return f"{health.state}: {health.detail}"


async def _follow(api: EngineAPI, bridge: SlothRunnerBridge) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    where = "the daemon" if api.remote else f"the store in {api.settings.home}"
    say(f"sloth-runner bridge: mirroring into {where}; Ctrl-C stops", err=True)
    await bridge.start(api)
    last = ""
    try:
        while not stop.is_set():
            line = _summary(bridge)
            if line != last:
                say(f"sloth-runner bridge: {line}", err=True)
                last = line
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATUS_EVERY)
    finally:
        await bridge.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    say(
        f"sloth-runner bridge: stopped · {bridge.events} events, {bridge.runs} runs mirrored",
        err=True,
    )
