"""`secret.get(name)`: a value from the secret vault (secret_vault.py), for hooks.

Answers the value, or `nil, "secret.get: ..."` for a name that is unknown, expired
(the message says "expired"), or malformed, and when the vault's key is missing,
bad or does not match. The vault is the one of the data dir the engine serves
(Limits.secret_files).

Every real read is recorded as a `secret.accessed` event (secret_name, accessed_by =
the hook, access_time; never the value), dispatched through the run's host the way
event.dispatch does it: the event commits with the run. A read whose event cannot be
recorded (a chain at its depth limit, the engine stopping) is refused: no unaudited
read. A dry run (test-fire) reads the value too, but stores nothing: its record
notes the read and the event it would have dispatched.

Each value handed out is noted in the run's scratch (redact.SCRATCH), so the worker
redacts it from the run's record and event.dispatch from the events the run sends.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sloth_tui.lua.context import RunContext
from sloth_tui.lua.modules.base import HostCall, HostError, HostModule
from sloth_tui.lua.redact import SCRATCH
from sloth_tui.model.errors import NotFound, SlothError
from sloth_tui.secret_vault import SecretExpired, Vault, iso


def _read(ctx: RunContext, name: Any) -> tuple[str, str]:
    """(name, value), or HostError with the reason the hook sees."""
    if not isinstance(name, str):
        raise HostError(f"name must be a string, got {type(name).__name__}")
    vault_file, key_file = ctx.limits.secret_files
    if not vault_file:
        raise HostError("no secret vault in this run")
    try:
        value = Vault(Path(vault_file), Path(key_file)).get(name)
    except SecretExpired as exc:
        raise HostError(f"expired: {exc}") from None
    except NotFound as exc:
        raise HostError(str(exc)) from None
    except SlothError as exc:  # VaultError: bad name, key missing/bad/not matching
        raise HostError(str(exc)) from None
    ctx.scratch.setdefault(SCRATCH, {})[value] = name
    return name, value


def _accessed(ctx: RunContext, name: str) -> dict[str, Any]:
    return {"secret_name": name, "accessed_by": ctx.hook, "access_time": iso(time.time())}


def get(ctx: RunContext, name: Any) -> str:
    name, value = _read(ctx, name)
    data = _accessed(ctx, name)
    call: dict[str, Any] = {"fn": "secret.get", "name": name, "event_id": None, "error": None}
    try:
        call["event_id"] = ctx.host.dispatch(
            "secret.accessed", data, parent=ctx.event, source=ctx.source
        )
    except Exception as exc:
        call["error"] = f"the access could not be recorded: {exc or type(exc).__name__}"
        ctx.record(call)
        raise HostError(f"{name}: refused: {call['error']}") from None
    ctx.record(call)
    return value


def dry_get(ctx: RunContext, name: Any) -> str:
    name, value = _read(ctx, name)
    ctx.record(
        {
            "fn": "secret.get", "name": name, "dry_run": True,
            "would_dispatch": {"type": "secret.accessed", "data": _accessed(ctx, name)},
        }
    )  # fmt: skip
    return value


SECRET = HostModule(
    name="secret",
    calls={"get": HostCall(get, dry_run=dry_get)},
    doc="secret.get(name): a value from the vault; each read records secret.accessed",
)
