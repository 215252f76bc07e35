"""One hook registry for the fleet: hooks (definition and Lua source) in the KV bucket
`hooks`, each engine keeping its own store row and a local file copy.

Key: `subjects.token(name)`. Value: JSON, the hook's definition (Hook.to_dict() without
run_count and last_run) plus "code" (the Lua text), "by" (the engine that wrote it) and
"ts". A pulled hook's Lua is written to `<hooks_dir>/<name>.lua` first, and the hook's
`file` points there.

Which side wins, per hook, by what changed since this engine last saw both agree:
- only here changed (or the fleet has never had the hook): put to KV (the first engine
  seeds the fleet);
- only KV changed, or this engine has no memory of an earlier agreement (it just
  started): KV wins, applied here through the API (add, update, delete);
- both changed (two engines edited the hook at once): KV wins; this engine's edit is
  dropped and a system.warning names the hook and both engines.
A hook deleted in the fleet (a delete marker in KV) is deleted here, unless the local
hook was created after the delete (a new hook of the same name: it is seeded).

Local changes are seen from the engine's "hooks" notices (hook add/update/delete/enable/
disable, the dashboard's editor) and by a slow poll of the hook files (an editor saving
the file with no API call). Writes are compare-and-set on the revision last seen, so a
concurrent edit elsewhere is a visible conflict. Nothing loops: each side is compared
by content (definition + code, without `file`, `created`, `by`, `ts`) with what was
last agreed, and an entry this engine applied is never put back.

In a fleet this part also moves `state.*` to the `state` bucket (state_kv.KVState).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sloth_tui.atomic_file import SHARED, write_atomically
from sloth_tui.fleet import subjects
from sloth_tui.fleet.kv_watch import watch_entries
from sloth_tui.fleet.parts import FleetContext
from sloth_tui.fleet.state_kv import KVState
from sloth_tui.model.errors import NotFound, SlothError
from sloth_tui.model.records import Hook
from sloth_tui.model.rules import check_hook_name

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

log = logging.getLogger("sloth_tui.fleet")

POLL_S = 2.0  # how often hook files are compared with what was last agreed
OP_TIMEOUT = 5.0
CODE_MAX = 1024 * 1024  # bytes of Lua in one KV entry
# Not compared: where this engine keeps the file, when it was created here, who wrote
# the entry last and when; nor what runs changed (counters are per engine).
_NOT_COMPARED = ("file", "created", "by", "ts", "run_count", "last_run")


class Refused(SlothError):
    """A KV entry that is not a hook this engine can take (one line)."""


@dataclass(slots=True)
class Agreed:
    """What KV and this engine last both held for one hook: its fingerprint (None:
    deleted) and the KV revision."""

    fp: str | None
    rev: int


@dataclass(slots=True)
class Remote:
    """One KV entry, decoded: a hook (`hook` and `code`) or a delete marker."""

    name: str
    rev: int
    hook: Hook | None
    code: str
    by: str
    created: float  # when the entry was written (epoch seconds; 0 when unknown)

    @property
    def fp(self) -> str | None:
        return None if self.hook is None else fingerprint(self.hook, self.code)


def definition(hook: Hook) -> dict[str, Any]:
    d = hook.to_dict()
    d.pop("run_count", None)
    d.pop("last_run", None)
    return d


def fingerprint(hook: Hook, code: str) -> str:
    d = {k: v for k, v in definition(hook).items() if k not in _NOT_COMPARED}
    d["code"] = code
    return json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)


def encode(hook: Hook, code: str, by: str) -> bytes:
    d = definition(hook)
    d.update(code=code, by=by, ts=time.time())
    return json.dumps(d, separators=(",", ":")).encode()


def decode(key: str, raw: bytes, rev: int, created: float) -> Remote:
    """A put entry as a hook; Refused (one line) when it is not one."""
    name = subjects.untoken(key)
    try:
        check_hook_name(name)
    except SlothError:
        raise Refused(f"key {key[:80]!r} is not a valid hook name") from None
    try:
        d = json.loads(raw)
    except ValueError:
        raise Refused(f"hook {name}: the entry is not JSON") from None
    if not isinstance(d, dict):
        raise Refused(f"hook {name}: the entry is not a JSON object")
    if d.get("name") != name:
        raise Refused(f"hook {name}: the entry names another hook")
    events = d.get("events")
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise Refused(f"hook {name}: its events are not a list of patterns")
    code = d.get("code")
    if not isinstance(code, str):
        raise Refused(f"hook {name}: the entry has no Lua code")
    if len(code.encode()) > CODE_MAX:
        raise Refused(f"hook {name}: its code is larger than {CODE_MAX} bytes")
    try:
        hook = Hook.from_dict({**d, "file": str(d.get("file") or "")})
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError, SlothError) as exc:
        raise Refused(f"hook {name}: not a hook definition ({_one_line(exc)})") from None
    if why := _unfit(hook, d):
        raise Refused(f"hook {name}: {why}")
    by = d.get("by")
    shown = "".join(ch for ch in by if ch.isprintable())[:64] if isinstance(by, str) else ""
    return Remote(name, rev, hook, code, shown or "?", created)


def _unfit(hook: Hook, d: dict[str, Any]) -> str | None:
    """What `hook add` would refuse in a definition (an update does not check them all)."""
    if not isinstance(d.get("description", ""), str):
        return "its description is not text"
    if not isinstance(d.get("enabled", True), bool):
        return "enabled is not true or false"
    if not (math.isfinite(hook.timeout) and 0 < hook.timeout <= 3600):
        return "its timeout is not between 0 and 3600 seconds"
    instructions, memory = hook.max_instructions, hook.max_memory_mb
    if instructions is not None and (type(instructions) is not int or instructions < 1000):
        return "max_instructions is not a whole number of at least 1000"
    if memory is not None and (type(memory) is not int or not 1 <= memory <= 4096):
        return "max_memory_mb is not between 1 and 4096"
    if hook.disabled_reason is not None and not isinstance(hook.disabled_reason, str):
        return "disabled_reason is not text"
    return None


class RegistrySync:
    name = "registry"

    def __init__(self) -> None:
        self._agreed: dict[str, Agreed] = {}
        self._lock = asyncio.Lock()  # one change at a time, whichever side it comes from
        self._tasks: list[asyncio.Task[None]] = []
        self._watch_task: asyncio.Task[None] | None = None
        self._dirty: set[str] = set()  # names a notice said changed here
        self._wake = asyncio.Event()
        self._ready = False  # reconciled since the last (re)connection

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self, ctx: FleetContext) -> None:
        self.ctx = ctx
        self.dir: Path = ctx.api.settings.hooks_dir
        try:
            ctx.port.use_state(KVState(ctx))
        except RuntimeError as exc:  # an engine that runs no hooks keeps no state
            log.info("fleet: state stays local: %s", exc)
        self._sub = ctx.api.subscribe(maxsize=1000)
        self._tasks = [
            asyncio.create_task(self._follow_notices(), name="fleet-registry-notices"),
            asyncio.create_task(self._follow_local(), name="fleet-registry-local"),
        ]
        ctx.link.on_connect(self._connected)

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._watch_task] if self._watch_task else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            self._sub.close()
        with contextlib.suppress(Exception):
            self.ctx.port.use_state(None)

    async def _connected(self) -> None:
        """After each (re)connection: a new watch, whose first values reconcile."""
        self._ready = False
        if self._watch_task is not None:
            self._watch_task.cancel()
        self._watch_task = asyncio.create_task(self._watch(), name="fleet-registry-watch")

    # -- KV -> here ---------------------------------------------------------------------

    async def _watch(self) -> None:
        """Watch sessions until the link drops (the next connection starts anew); a
        session that failed (a KV call timed out mid-way) is begun again shortly."""
        while True:
            try:
                await self._watch_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("fleet: hook sync: %s", _one_line(exc))
            if not self.ctx.link.connected:
                return  # on_connect starts the next watch
            await asyncio.sleep(POLL_S)

    async def _watch_once(self) -> None:
        self._ready = False
        kv = await self.ctx.link.kv("hooks")
        first: dict[str, Any] = {}
        initial = True
        async with contextlib.aclosing(watch_entries(kv)) as entries:
            async for entry in entries:
                if entry is None:  # the end of the values there were: reconcile once
                    initial = False
                    await self._reconcile(first)
                    self._ready = True
                    continue
                if initial:
                    first[entry.key] = entry
                    continue
                await self._pulled(entry)

    def _remote(self, entry: Any) -> Remote:
        created = entry.created.timestamp() if entry.created is not None else 0.0
        rev = int(entry.revision or 0)
        if entry.operation in ("DEL", "PURGE"):
            name = subjects.untoken(entry.key)
            try:
                check_hook_name(name)
            except SlothError:
                raise Refused(f"key {entry.key[:80]!r} is not a valid hook name") from None
            return Remote(name, rev, None, "", "?", created)
        return decode(entry.key, entry.value or b"", rev, created)

    async def _pulled(self, entry: Any) -> None:
        """One change in KV, as it happens."""
        try:
            remote = self._remote(entry)
        except Refused as exc:
            self._refused(exc)
            return
        async with self._lock:
            agreed = self._agreed.get(remote.name)
            if agreed is not None and remote.rev <= agreed.rev:
                return  # this engine's own write, or older than what it has
            local = await self._local_fp(remote.name)
            if local == remote.fp:
                self._agreed[remote.name] = Agreed(local, remote.rev)
                return
            if remote.hook is None and agreed is None and local is not None:
                return  # a delete of a hook this engine never had in the fleet: keep
            changed_here = agreed is not None and local != agreed.fp
            await self._take(remote, conflict=changed_here)

    async def _reconcile(self, entries: dict[str, Any]) -> None:
        """The fleet's hooks against this engine's, after each (re)connection."""
        remotes: dict[str, Remote] = {}
        for entry in entries.values():
            try:
                remote = self._remote(entry)
            except Refused as exc:
                self._refused(exc)
                continue
            remotes[remote.name] = remote
        local_names = {h.name for h in await self.ctx.api.list_hooks()}
        for name in sorted(local_names | remotes.keys() | self._agreed.keys()):
            async with self._lock:
                await self._reconcile_one(name, remotes.get(name))

    async def _reconcile_one(self, name: str, remote: Remote | None) -> None:
        local = await self._local_fp(name)
        remote_fp = remote.fp if remote is not None else None
        rev = remote.rev if remote is not None else 0
        if local == remote_fp:
            self._agreed[name] = Agreed(local, rev)
            return
        agreed = self._agreed.get(name)
        if agreed is not None:  # a reconnection: what changed on each side meanwhile?
            if remote is None:  # the bucket lost it (NATS came back with a new store)
                del self._agreed[name]
                await self._push(name)
            elif rev == agreed.rev:
                await self._push(name)
            else:
                await self._take(remote, conflict=local != agreed.fp)
            return
        if remote is None:  # the fleet never had it: this engine seeds it
            await self._push(name)
        elif remote.hook is None and local is not None:
            hook = await self._local_hook(name)
            if hook is not None and hook.created > remote.created:
                await self._push(name)  # created here after the fleet's delete: new
            else:
                await self._take(remote, conflict=False)
        else:
            await self._take(remote, conflict=False)  # KV wins

    async def _take(self, remote: Remote, *, conflict: bool) -> None:
        """Apply the KV side here (under the lock)."""
        name = remote.name
        try:
            await self._apply(remote)
        except (Refused, SlothError, OSError) as exc:
            self._refused(Refused(f"hook {name}: {_one_line(exc)}"))
            # Not taken: remembered as seen so the watch does not retry it, and this
            # engine's own copy is not pushed over it until it changes here.
            self._agreed[name] = Agreed(await self._local_fp(name), remote.rev)
            return
        self._agreed[name] = Agreed(await self._local_fp(name), remote.rev)
        self.ctx.counters.add("hooks_pulled")
        if conflict:
            await self._conflict(name, remote.by)

    async def _apply(self, remote: Remote) -> None:
        api = self.ctx.api
        name = remote.name
        existing = await self._local_hook(name)
        if remote.hook is None:
            if existing is not None:
                await api.delete_hook(name)
                copy = self._copy_path(name)
                if Path(existing.file) == copy:
                    with contextlib.suppress(OSError):
                        copy.unlink()
            return
        problem = await api.check_syntax(remote.code, name)
        if problem is not None:
            raise Refused(f"its Lua does not compile: {problem[1]}")
        hook = remote.hook
        path = self._write_copy(name, remote.code)
        fields: dict[str, Any] = {
            "events": list(hook.events),
            "file": str(path),
            "description": hook.description,
            "enabled": hook.enabled,
            "timeout": hook.timeout,
            "max_instructions": hook.max_instructions,
            "max_memory_mb": hook.max_memory_mb,
            "stack": hook.stack,
        }
        if existing is None:
            await api.add_hook(name, **fields)
        await api.update_hook(
            name,
            **({} if existing is None else fields),
            policy=hook.policy,
            disabled_reason=hook.disabled_reason,
        )

    def _copy_path(self, name: str) -> Path:
        return self.dir / f"{name}.lua"

    def _write_copy(self, name: str, code: str) -> Path:
        """The hook's local file copy, written whole (a reader never sees half)."""
        path = self._copy_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if path.read_text(encoding="utf-8") == code:
                return path
        except (OSError, UnicodeDecodeError):
            pass
        return write_atomically(path, code, mode=SHARED)

    # -- here -> KV ---------------------------------------------------------------------

    async def _follow_notices(self) -> None:
        sub = self._sub
        while True:
            notice = await sub.get()
            if notice.kind == "hooks" and isinstance(notice.payload, str):
                self._dirty.add(notice.payload)
                self._wake.set()
            elif notice.kind == "dropped":  # some were lost: look at every hook
                self._wake.set()

    async def _follow_local(self) -> None:
        """Hooks changed here, told by a notice, or found by the slow poll (files)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            if not (self._ready and self.ctx.link.connected):
                self._dirty |= dirty  # pushed at reconnection (reconcile) or next time
                continue
            try:
                names = {h.name for h in await self.ctx.api.list_hooks()}
                for name in sorted(names | dirty | self._agreed.keys()):
                    async with self._lock:
                        await self._check_local(name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS went away mid-way: the next round tries again
                log.warning("fleet: hook sync: %s", _one_line(exc))

    async def _check_local(self, name: str) -> None:
        agreed = self._agreed.get(name)
        local = await self._local_fp(name)
        if agreed is not None and local == agreed.fp:
            return
        if agreed is None and local is None:
            return
        await self._push(name)

    async def _push(self, name: str) -> None:
        """This engine's hook (or its deletion) to KV, compare-and-set on the revision
        last agreed; on a conflict the KV side is read and applied here (KV wins)."""
        from nats.js.errors import APIError, KeyWrongLastSequenceError

        hook = await self._local_hook(name)
        code = _read_code(hook) if hook is not None else None
        if hook is not None and code is None:
            return  # its file is unreadable here: nothing to share until it is back
        agreed = self._agreed.get(name)
        last = agreed.rev if agreed is not None else 0
        kv = await self.ctx.link.kv("hooks")
        key = subjects.token(name)
        try:
            if hook is None or code is None:
                if agreed is None or agreed.fp is None:
                    return
                await _bounded(kv.delete(key, last=last))
                self._agreed[name] = Agreed(None, last)  # the watch brings the revision
            else:
                value = encode(hook, code, self.ctx.name)
                rev = await _bounded(kv.update(key, value, last=last))
                self._agreed[name] = Agreed(fingerprint(hook, code), int(rev))
        except KeyWrongLastSequenceError:
            await self._lost_race(kv, name)
            return
        except APIError as exc:
            if exc.err_code in (10071, 10164):  # a delete's wrong-last-sequence
                await self._lost_race(kv, name)
                return
            raise
        self.ctx.counters.add("hooks_pushed")

    async def _lost_race(self, kv: KeyValue, name: str) -> None:
        """Another engine wrote the hook since this one last saw it: its version wins."""
        from nats.js.errors import KeyNotFoundError

        key = subjects.token(name)
        try:
            entry = await _bounded(kv.get(key))
        except KeyNotFoundError as exc:  # deleted there
            marker = exc.entry
            rev = int(marker.revision or 0) if marker is not None else 0
            remote = Remote(name, rev, None, "", "another engine", 0.0)
        else:
            try:
                remote = decode(key, entry.value or b"", int(entry.revision or 0), 0.0)
            except Refused as exc:
                self._refused(exc)
                self._agreed[name] = Agreed(await self._local_fp(name), int(entry.revision))
                return
        local = await self._local_fp(name)
        if local == remote.fp:  # the other engine wrote the same thing (both seeding)
            self._agreed[name] = Agreed(local, remote.rev)
            return
        await self._take(remote, conflict=True)

    # -- reporting ----------------------------------------------------------------------

    async def _conflict(self, name: str, winner: str) -> None:
        self.ctx.counters.add("hooks_conflicts")
        here = self.ctx.name
        message = f"hook {name} edited on {winner} and {here} at once; {winner}'s kept"
        log.warning("fleet: %s", message)
        data = {
            "component": "fleet:registry",
            "message": message,
            "severity": "warning",
            "hook": name,
        }
        try:
            await self.ctx.api.dispatch("system.warning", data, source="fleet")
        except Exception as exc:  # stopping, queue full: the log line stays
            log.warning("fleet: could not record the warning: %s", _one_line(exc))

    def _refused(self, exc: Refused) -> None:
        self.ctx.counters.add("hooks_refused")
        log.warning("fleet: hook entry refused: %s", _one_line(exc))

    # -- this engine's side -------------------------------------------------------------

    async def _local_hook(self, name: str) -> Hook | None:
        try:
            return await self.ctx.api.get_hook(name)
        except NotFound:
            return None

    async def _local_fp(self, name: str) -> str | None:
        hook = await self._local_hook(name)
        if hook is None:
            return None
        code = _read_code(hook)
        return fingerprint(hook, code if code is not None else "\0unreadable")


def _read_code(hook: Hook) -> str | None:
    try:
        with open(hook.file, encoding="utf-8") as f:
            return f.read(CODE_MAX + 1)
    except (OSError, UnicodeDecodeError):
        return None


async def _bounded(coro: Any) -> Any:
    try:
        return await asyncio.wait_for(coro, OP_TIMEOUT)
    except TimeoutError:
        raise TimeoutError(f"NATS KV did not answer within {OP_TIMEOUT:g} s") from None


def _one_line(exc: BaseException) -> str:
    return (" ".join(str(exc).split()) or type(exc).__name__)[:300]
