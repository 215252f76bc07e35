"""`sloth-tui check list/run`: the health and network checks of config.toml ([[checks]]).

`check run` probes once, here and now, without a daemon and without dispatching
events: it answers "does this check pass from this host?" while you write the config.
"""

from __future__ import annotations

import time

import click

from sloth_tui.commands.common import emit_json, fail, run, settings_from, table
from sloth_tui.commands.output import clean, say
from sloth_tui.model.errors import SlothError
from sloth_tui.sources.check_config import CheckSettings, load_checks
from sloth_tui.sources.check_probes import probe
from sloth_tui.sources.check_state import fmt_ms


def _checks(ctx: click.Context) -> tuple[CheckSettings, ...]:
    try:
        return load_checks(settings_from(ctx))
    except SlothError as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


@click.group("check")
def check_group() -> None:
    """Health and network checks ([[checks]] in config.toml): http, tcp and dns.

    `sloth-tui serve` probes each one every `interval` seconds and emits health.* events
    (tcp targets also network.*) when its state changes. For example:

    \b
    [[checks]]
    name = "api"
    kind = "http"                # http, tcp (host, port) or dns (host)
    url = "http://127.0.0.1:8080/healthz"
    body_contains = "ok"         # optional; expect_status = 200 by default
    interval = 30                # seconds; timeout = 5, failures = 1, slow_ms = timeout/2
    """


@check_group.command("list")
@click.option(
    "--json", "as_json", is_flag=True, help="Print an array of checks with every setting."
)
@click.pass_context
def check_list(ctx: click.Context, as_json: bool) -> None:
    """The configured checks and their settings."""
    checks = _checks(ctx)
    if as_json:
        emit_json([c.as_dict() for c in checks])
        return
    table(
        [
            [
                c.name,
                c.kind,
                c.target,
                c.service,
                f"{c.interval:g}s",
                f"{c.timeout:g}s",
                str(c.failures),
                f"{c.slow_ms:g}ms" if c.slow_ms else "-",
                "yes" if c.enabled else "no",
            ]
            for c in checks
        ],
        ["name", "kind", "target", "service", "interval", "timeout", "failures", "slow", "enabled"],
    )


@check_group.command("run")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the result as a JSON object.")
@click.pass_context
def check_run(ctx: click.Context, name: str, as_json: bool) -> None:
    """Probe check NAME once now and print the result; exit status 1 when it fails.

    Needs no daemon and dispatches no event. Works on a disabled check too.
    """
    checks = _checks(ctx)
    cfg = next((c for c in checks if c.name == name), None)
    if cfg is None:
        known = ", ".join(c.name for c in checks) or "none configured"
        fail(f"no check named {name!r} (known: {known})")
        return
    result = run(lambda: probe(cfg, time.monotonic))
    slow = result.ok and bool(cfg.slow_ms) and result.response_ms >= cfg.slow_ms
    if as_json:
        emit_json(
            {
                "name": cfg.name,
                "kind": cfg.kind,
                "target": cfg.target,
                "service": cfg.service,
                "ok": result.ok,
                "slow": slow,
                "response_time_ms": result.response_ms,
                "error": result.error or None,
                "detail": result.detail or None,
            }
        )
    elif result.ok:
        note = f" (slow: at or above {fmt_ms(cfg.slow_ms)})" if slow else ""
        detail = f", {clean(result.detail)}" if result.detail else ""
        say(f"passed: {clean(cfg.name)} in {fmt_ms(result.response_ms)}{detail}{note}")
    else:
        say(f"failed: {clean(cfg.name)}: {clean(result.error)}")
    if not result.ok:
        ctx.exit(1)
