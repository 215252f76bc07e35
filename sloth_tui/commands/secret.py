"""`sloth-tui secret ...`: set, list, rotate and delete the values hooks read with secret.get.

A value is read from stdin when stdin is not a terminal (`pass show x | sloth-tui
secret set slack`; one trailing newline is dropped), else from a hidden prompt
asked twice. Never from the command line: argv lands in shell history and in `ps`,
so `set` and `rotate` have no value argument or option, and an extra argument is
refused without being echoed.

Each change is stored in the vault (secret_vault.py) first, then announced as
secret.created / updated / deleted through the engine the command reaches (the
daemon's when one runs, else a local one), so hooks on secret.* run.
"""

from __future__ import annotations

import getpass
import sys
import time
from typing import Any

import click

from sloth_tui.commands.common import emit_json, engine_for, fail, fmt_ts, run, settings_from, table
from sloth_tui.commands.output import say, warn
from sloth_tui.model.errors import SlothError
from sloth_tui.secret_vault import (
    MAX_VALUE,
    MIN_VALUE,
    NAME_RULE,
    SecretInfo,
    Vault,
    VaultError,
    check_name,
    check_value,
    parse_when,
)

NAMESPACE = "default"  # the catalog's `namespace`: one vault per data dir


class _NoValueInArgv(click.Command):
    """Refuses extra arguments without repeating them: the extra one is most likely the
    value, and an error message would put it on the screen (and in logs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", {})["allow_extra_args"] = True
        super().__init__(*args, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        if ctx.args:
            raise click.UsageError(
                f"{len(ctx.args)} unexpected argument(s), not shown: a secret's value is never"
                " taken from the command line (shell history, ps); pipe it in or type it at"
                " the prompt",
                ctx,
            )
        return rest


@click.group("secret")
def secret_group() -> None:
    """Values hooks read with secret.get(NAME), encrypted at rest.

    The key is `secrets.key` in the config dir (created 0600 on first use); the values
    are in `secrets.json` in the data dir, encrypted with it (Fernet). Names:"""


secret_group.help = (secret_group.help or "") + NAME_RULE + "."


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _vault(ctx: click.Context) -> Vault:
    return Vault.for_settings(settings_from(ctx))


def _read_value(name: str) -> str:
    """From stdin when it is not a terminal, else a hidden prompt asked twice."""
    if sys.stdin.isatty():
        return str(
            click.prompt(f"Value for {name}", hide_input=True, confirmation_prompt=True, err=True)
        )
    raw = sys.stdin.buffer.read(MAX_VALUE * 4 + 3)  # UTF-8: at most 4 bytes a character
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        fail("the value on stdin is not UTF-8 text")
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        fail("no value on stdin (pipe it in, or run without a pipe to be prompted)")
    return text


def _when(text: str | None, what: str) -> float | None:
    if text is None:
        return None
    try:
        when = parse_when(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=what) from None
    if when <= time.time():
        raise click.BadParameter("is in the past", param_hint=what)
    return when


def _announce(ctx: click.Context, etype: str, data: dict[str, Any]) -> None:
    """Record the change as an event; the change itself is already stored."""

    async def body() -> None:
        async with engine_for(ctx) as engine:
            await engine.dispatch_and_run(etype, data, source="cli")

    try:
        run(body)
    except SystemExit as exc:  # run() already said why, in one line
        if exc.code:
            warn(f"the change is stored, but {etype} was not recorded")
            raise


def _checked_name(name: str) -> str:
    try:
        return check_name(name)
    except VaultError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None


EXPIRES_HELP = (
    "When the secret expires: a date (2027-01-31), a date-time (2027-01-31T12:00, local"
    " unless it ends in Z or +01:00) or a span from now (90d, 12h, 2w). An expired secret"
    ' reads as nil, "expired" in hooks, and the engine emits secret.expired.'
)


@secret_group.command("set", cls=_NoValueInArgv)
@click.argument("name")
@click.option("--expires", metavar="DATE", help=EXPIRES_HELP)
@click.option(
    "--rotate-after",
    type=click.IntRange(1, 36_500),
    metavar="DAYS",
    help="Rotation is due DAYS days after creation or the last `secret rotate`; the"
    " engine then emits secret.rotation_needed (once).",
)
@click.pass_context
def secret_set(
    ctx: click.Context, name: str, expires: str | None, rotate_after: int | None
) -> None:
    """Create NAME or replace its value. The value comes from stdin, or a hidden prompt.

    \b
        pass show slack/webhook | sloth-tui secret set slack_webhook --rotate-after 90

    A value has at least {MIN} characters (shorter ones could not be redacted from hook
    logs) and at most {MAX}. Dates not given are kept; use `secret rotate` to record a
    rotation.
    """
    name = _checked_name(name)
    when = _when(expires, "--expires")
    value = _read_value(name)
    try:
        created = _vault(ctx).put(
            name, check_value(value), expires=when, rotate_after_days=rotate_after
        )
    except SlothError as exc:
        fail(str(exc))
    who = _who()
    if created:
        data = {"secret_name": name, "namespace": NAMESPACE, "created_by": who}
        _announce(ctx, "secret.created", data)
        say(f"secret {name} created")
    else:
        _announce(ctx, "secret.updated", {"secret_name": name, "updated_by": who})
        say(f"secret {name} updated")


secret_set.help = (
    (secret_set.help or "").replace("{MIN}", str(MIN_VALUE)).replace("{MAX}", f"{MAX_VALUE:,}")
)


@secret_group.command("rotate", cls=_NoValueInArgv)
@click.argument("name")
@click.option("--expires", metavar="DATE", help="A new expiry date (same forms as `set`).")
@click.pass_context
def secret_rotate(ctx: click.Context, name: str, expires: str | None) -> None:
    """Give NAME a new value (stdin or prompt) and record the rotation: its rotate-after
    clock starts again. NAME must exist."""
    name = _checked_name(name)
    when = _when(expires, "--expires")
    vault = _vault(ctx)
    try:
        vault.info(name)  # unknown: say so before asking for a value
        vault.rotate(name, check_value(_read_value(name)), expires=when)
    except SlothError as exc:
        fail(str(exc))
    _announce(ctx, "secret.updated", {"secret_name": name, "updated_by": _who()})
    say(f"secret {name} rotated")


@secret_group.command("delete")
@click.argument("name")
@click.pass_context
def secret_delete(ctx: click.Context, name: str) -> None:
    """Forget NAME and its value. Hooks reading it get nil, err from then on."""
    name = _checked_name(name)
    try:
        _vault(ctx).delete(name)
    except SlothError as exc:
        fail(str(exc))
    _announce(ctx, "secret.deleted", {"secret_name": name, "deleted_by": _who()})
    say(f"secret {name} deleted")


def _days(info: SecretInfo) -> str:
    return "-" if info.rotate_after_days is None else f"{info.rotate_after_days}d"


@secret_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (no values, ever).")
@click.pass_context
def secret_list(ctx: click.Context, as_json: bool) -> None:
    """Every secret's name, dates and state (ok, rotation_needed, expired). Never values:
    listing does not even read the key.

    --json: [{name, created, updated, rotated, expires, rotate_after_days, rotation_due,
    state}], dates in seconds since the epoch (null when unset)."""
    try:
        infos = _vault(ctx).entries()
    except SlothError as exc:
        fail(str(exc))
    now = time.time()
    if as_json:
        emit_json([info.to_json(now) for info in infos])
        return
    rows = [
        [
            i.name, fmt_ts(i.created), fmt_ts(i.updated), fmt_ts(i.rotated), fmt_ts(i.expires),
            _days(i), i.state(now),
        ]
        for i in infos
    ]  # fmt: skip
    table(rows, ["name", "created", "updated", "rotated", "expires", "rotate", "state"])
