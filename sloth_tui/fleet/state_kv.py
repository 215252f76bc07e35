"""Hook state (`state.*`) in the fleet's KV bucket `state`: one value per (hook, key).

The engine's pending_state.StateBackend: reads go here, and each real run's final
writes as the run ends (engine/effects.py apply_state), before its record commits and
so before the fleet hears of the run. A set or a delete is a plain put (the last run to
end wins, as in one store); an increment is compare-and-set (get, update with the
revision read, again on a conflict), so `state.incr` from every engine adds up exactly.

Keys: `token(hook) + "." + key_part(key)`: a state key is any string, KV keys are
`[-/_=.a-zA-Z0-9]`, so the key is base32 (lower case, no padding), "_" for "".
Every call is bounded (OP_TIMEOUT); NATS down is an error the run sees, never a wait.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
from typing import Any

from sloth_tui.fleet import subjects
from sloth_tui.fleet.parts import FleetContext

OP_TIMEOUT = 5.0  # seconds for one KV call
CAS_TRIES = 100  # compare-and-set attempts of one increment before it gives up
Op = tuple[str, Any]


def key_part(key: str) -> str:
    """A state key as KV key text: base32, lower case, unpadded ("_" for "")."""
    if not key:
        return "_"
    return base64.b32encode(key.encode("utf-8")).decode("ascii").rstrip("=").lower()


def kv_key(hook: str, key: str) -> str:
    return f"{subjects.token(hook)}.{key_part(key)}"


def _numeric(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return 0


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:  # not written by an engine: read as no value
        return None


def _encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class KVState:
    """pending_state.StateBackend on the `state` bucket of the context's link."""

    def __init__(self, ctx: FleetContext) -> None:
        self.ctx = ctx

    async def get(self, hook: str, key: str) -> Any:
        value, _rev = await self._read(kv_key(hook, key))
        return value

    async def apply(self, hook: str, ops: dict[str, Op]) -> None:
        for key, (kind, value) in ops.items():
            k = kv_key(hook, key)
            if kind == "set":
                kv = await self.ctx.link.kv("state")
                await _bounded(kv.put(k, _encode(value)))
            elif kind == "del":
                kv = await self.ctx.link.kv("state")
                await _bounded(kv.delete(k))
            else:
                await self._add(k, value)
        self.ctx.counters.add("state_writes", len(ops))

    async def _read(self, k: str) -> tuple[Any, int]:
        """(value, revision); (None, revision of its delete marker or 0) when unset."""
        from nats.js.errors import KeyNotFoundError

        kv = await self.ctx.link.kv("state")
        try:
            entry = await _bounded(kv.get(k))
        except KeyNotFoundError as exc:  # a deleted key carries its marker's entry
            marker = exc.entry
            return None, int(marker.revision or 0) if marker is not None else 0
        return (_decode(entry.value) if entry.value else None), int(entry.revision or 0)

    async def _add(self, k: str, by: float) -> None:
        from nats.js.errors import KeyWrongLastSequenceError

        for attempt in range(CAS_TRIES):
            value, rev = await self._read(k)
            kv = await self.ctx.link.kv("state")
            try:
                await _bounded(kv.update(k, _encode(_numeric(value) + by), last=rev))
                return
            except KeyWrongLastSequenceError:  # another engine added first: read again
                self.ctx.counters.add("state_cas_retries")
                await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
        raise RuntimeError(f"state.incr: {CAS_TRIES} concurrent updates in a row, gave up")


async def _bounded(coro: Any) -> Any:
    try:
        return await asyncio.wait_for(coro, OP_TIMEOUT)
    except TimeoutError:
        raise TimeoutError(f"NATS KV did not answer within {OP_TIMEOUT:g} s") from None
