"""`sloth-tui fleet status [--json]`: the fleet as the running daemon sees it.

It asks the daemon (`EngineAPI.fleet_status()`): this engine, its link to NATS, its
counters and the members from their heartbeats. No daemon, or a daemon in no fleet, is
one line on stderr and exit 1. Names, hosts, versions and errors come from other
machines: every cell is escaped (commands/common.table).
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

import click

from sloth_tui.commands.common import emit_json, engine_for, fail, fmt_ts, run, table
from sloth_tui.commands.output import say
from sloth_tui.model.errors import SlothError

if TYPE_CHECKING:
    from sloth_tui.config import Settings
    from sloth_tui.model.fleet import FleetMember, FleetStatus

NO_DAEMON = (
    "no sloth-tui daemon answers: start one in the fleet with "
    "`sloth-tui serve --nats nats://HOST:4222`"
)
NOT_IN_FLEET = (
    "the daemon is in no fleet: restart it with `sloth-tui serve --nats nats://HOST:4222` "
    "or set [nats] url in config.toml"
)
COLUMNS = ["name", "state", "version", "host", "last heartbeat", "ev/s", "runs/s"]
COLUMNS += ["queue", "lag", "outbox", "hooks"]


@click.group("fleet")
def fleet_group() -> None:
    """The fleet of engines on NATS this daemon belongs to (serve --nats)."""


@fleet_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="The daemon's FleetStatus as JSON.")
@click.option(
    "--nats",
    "nats_url",
    metavar="URL",
    help="Read the members from this NATS server directly, without a daemon "
    "(credentials and prefix from [nats] in config.toml).",
)
@click.pass_context
def fleet_status(ctx: click.Context, as_json: bool, nats_url: str | None) -> None:
    """This engine, its link to NATS, its counters and the fleet's members."""
    from sloth_tui.commands.common import choose_engine_socket, settings_from

    if nats_url is not None:
        status = run(lambda: read_direct(settings_from(ctx), nats_url))
    else:
        if choose_engine_socket(ctx) is None:
            fail(NO_DAEMON)

        async def body() -> FleetStatus:
            async with engine_for(ctx, readonly=True) as engine:
                return await engine.fleet_status()

        status = run(body, oneshot=True)
        if not status.joined:
            fail(NOT_IN_FLEET)
    if as_json:
        emit_json(status.to_dict())
        return
    show(status)


async def read_direct(settings: Settings, url: str) -> FleetStatus:
    """The members bucket read with a connection of our own: an observer's status with no
    engine of its own (name ""). Creates nothing on the server."""
    import asyncio  # here: the daemon's path runs without asyncio (common.run oneshot)

    from nats.js.errors import NotFoundError

    from sloth_tui.fleet import subjects
    from sloth_tui.fleet.link import connect, credentials
    from sloth_tui.fleet.members import as_member, scan_bucket
    from sloth_tui.fleet.settings import fleet_settings
    from sloth_tui.model.fleet import FleetStatus

    fleet = fleet_settings(settings, url, name="cli", observer=True)
    assert fleet is not None  # a flag was given
    options: dict[str, Any] = {
        "servers": list(fleet.servers),
        "name": "sloth-tui fleet status",
        "allow_reconnect": False,
        "connect_timeout": 3.0,
        # nats-py: 0 is "no limit" when choosing a server; 1 tries each twice, then stops.
        "max_reconnect_attempts": 1,
        "reconnect_time_wait": 0.2,
        "error_cb": _quiet,  # its default prints a traceback; the failure is raised anyway
    }
    options.update(credentials(fleet))
    try:
        nc = await asyncio.wait_for(connect(options), 15.0)
    except Exception as exc:  # refused, timed out, bad credentials: one line
        raise SlothError(f"cannot reach NATS at {fleet.shown_url}: {_one_line(exc)}") from None
    try:
        try:
            kv = await nc.jetstream().key_value(subjects.bucket(fleet.prefix, "members"))
        except NotFoundError:
            raise SlothError(
                f"no fleet at {fleet.shown_url} (no {fleet.prefix}_members bucket): "
                "start an engine with `sloth-tui serve --nats URL`"
            ) from None
        read = await scan_bucket(kv)
    except SlothError:
        raise
    except Exception as exc:  # JetStream off, a timeout
        raise SlothError(f"NATS at {fleet.shown_url}: {_one_line(exc)}") from None
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    now = time.time()
    members = tuple(as_member(read.records[n], now) for n in sorted(read.records))
    counters = {"members_skipped": read.skipped} if read.skipped else {}
    return FleetStatus(
        joined=True,
        url=fleet.shown_url,
        connected=True,
        observer=True,
        members=members,
        counters=counters,
    )


async def _quiet(exc: Exception) -> None:
    return None


def _one_line(exc: BaseException) -> str:
    return (" ".join(str(exc).split()) or type(exc).__name__)[:300]


def show(status: FleetStatus) -> None:
    role = "observer" if status.observer else "member"
    link = "connected" if status.connected else "not connected"
    say(f"engine    {status.name or '(none: read from NATS)'} ({role})")
    say(f"link      {status.url} · {link}")
    if status.error:
        say(f"error     {status.error}")
    counters = " · ".join(f"{k} {v}" for k, v in sorted(status.counters.items()))
    say(f"counters  {counters or '(none)'}")
    say(f"members   {len(status.members)}")
    table([_row(m) for m in status.members], COLUMNS)


def _row(m: FleetMember) -> list[str]:
    return [
        m.name,
        m.state,
        m.version,
        m.host,
        f"{fmt_ts(m.last_heartbeat)} ({_ago(m.last_heartbeat)})" if m.last_heartbeat else "-",
        f"{m.events_per_s:g}",
        f"{m.runs_per_s:g}",
        str(m.queue_depth),
        str(m.lag),
        str(m.outbox),
        str(m.hooks),
    ]


def _ago(ts: float) -> str:
    age = max(time.time() - ts, 0.0)
    if age < 120:
        return f"{age:.0f}s ago"
    if age < 7200:
        return f"{age / 60:.0f}m ago"
    return f"{age / 3600:.0f}h ago"
