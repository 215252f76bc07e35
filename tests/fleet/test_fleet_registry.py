"""One hook registry across the fleet (issue 15, Build 4): hooks in the KV bucket `hooks`,
real `serve --nats` engines on a real nats-server, read back from each engine's store
and hook files."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleetkit import Fleet, FleetEngine, wait_for
from hostile import hostile_json, hostile_text
from hypothesis import given, settings
from hypothesis import strategies as st
from natskit import NatsServer

from sloth_tui.fleet.registry import Refused, decode

CODE_1 = 'log.info("one")\n'
CODE_2 = 'log.info("two")\n'


def hooks_of(engine: FleetEngine) -> dict[str, dict[str, Any]]:
    rows = engine.rows("SELECT name, events, file, description, enabled FROM hooks")
    return {
        name: {
            "events": json.loads(events),
            "file": file,
            "description": description,
            "enabled": bool(enabled),
        }
        for name, events, file, description, enabled in rows
    }


def code_of(engine: FleetEngine, name: str) -> str | None:
    hook = hooks_of(engine).get(name)
    if hook is None:
        return None
    try:
        return Path(hook["file"]).read_text()
    except OSError:
        return None


def code_is(engine: FleetEngine, name: str, code: str | None) -> Callable[[], bool]:
    """The hook's code there is `code` (None: the hook is not there)."""
    return lambda: code_of(engine, name) == code


def field_is(engine: FleetEngine, name: str, field: str, value: Any) -> Callable[[], bool]:
    return lambda: hooks_of(engine).get(name, {}).get(field) == value


def counters(engine: FleetEngine) -> dict[str, int]:
    reply = engine.send({"op": "fleet_status"})[0]
    assert reply.get("ok"), reply
    return dict(reply["fleet"]["counters"])


def ok(result: Any) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


def lua(tmp_path: Path, name: str, code: str) -> Path:
    path = tmp_path / name
    path.write_text(code)
    return path


def kv_call(url: str, fn: Any) -> Any:
    """fn(kv) against the hooks bucket, with nats-py directly."""

    async def main() -> Any:
        import nats

        nc = await nats.connect(url)
        try:
            kv = await nc.jetstream().key_value("sloth_hooks")
            return await fn(kv)
        finally:
            await nc.close()

    return asyncio.run(main())


def kv_revision(url: str, key: str) -> int:
    async def get(kv: Any) -> int:
        return int((await kv.get(key)).revision)

    return int(kv_call(url, get))


def warnings_of(engine: FleetEngine) -> list[str]:
    rows = engine.rows("SELECT data FROM events WHERE type = 'system.warning'")
    return [json.loads(data).get("message", "") for (data,) in rows]


def test_hook_changes_reach_every_engine(tmp_path: Path, nats_server: NatsServer) -> None:
    fleet = Fleet(tmp_path, nats_server.url, ["a", "b", "c"]).start()
    try:
        a, b, c = fleet["a"], fleet["b"], fleet["c"]
        ok(
            a.cli(
                "hook",
                "add",
                "h1",
                "--event",
                "deploy.*",
                "--file",
                str(lua(tmp_path, "1.lua", CODE_1)),
            )
        )
        for e in (b, c):
            wait_for(code_is(e, "h1", CODE_1), what=f"h1 on {e.name}")
            hook = hooks_of(e)["h1"]
            assert hook["events"] == ["deploy.*"]
            assert Path(hook["file"]) == e.home / "hooks" / "h1.lua"

        # An edit: a new file on a.
        ok(a.cli("hook", "update", "h1", "--file", str(lua(tmp_path, "2.lua", CODE_2))))
        for e in (b, c):
            wait_for(code_is(e, "h1", CODE_2), what=f"h1's edit on {e.name}")

        # Disabled on b: everywhere.
        ok(b.cli("hook", "disable", "h1"))
        for e in (a, c):
            wait_for(field_is(e, "h1", "enabled", False), what=f"disabled on {e.name}")

        # An edit saved to the file with no API call (an editor) on c: everywhere.
        Path(hooks_of(c)["h1"]["file"]).write_text(CODE_1)
        for e in (a, b):
            wait_for(code_is(e, "h1", CODE_1), what=f"c's file edit on {e.name}")

        ok(
            a.cli(
                "hook",
                "add",
                "h2",
                "--event",
                "*.failed",
                "--file",
                str(lua(tmp_path, "3.lua", CODE_2)),
            )
        )
        wait_for(lambda: "h2" in hooks_of(c), what="h2 on c")

        # Deleted on c: everywhere.
        ok(c.cli("hook", "delete", "h1", "--force"))
        for e in (a, b):
            wait_for(code_is(e, "h1", None), what=f"h1 gone from {e.name}")

        for engine in (a, b, c):
            assert counters(engine).get("hooks_conflicts", 0) == 0
    finally:
        fleet.stop()


def test_newcomers_get_every_hook_and_seed_their_own(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    a = FleetEngine(tmp_path, "a", nats_server.url).start()
    try:
        for name, code in (("h1", CODE_1), ("h2", CODE_2)):
            path = str(lua(tmp_path, f"{name}.lua", code))
            ok(a.cli("hook", "add", name, "--event", "deploy.*", "--file", path))
        ok(a.cli("hook", "delete", "h1", "--force"))  # a delete marker in KV
        wait_for(lambda: kv_has(nats_server.url, "h2"), what="h2 in KV")

        # An engine started later gets every hook (and not the deleted one).
        d = FleetEngine(tmp_path, "d", nats_server.url).start()
        try:
            wait_for(code_is(d, "h2", CODE_2), what="h2 on d")
            assert "h1" not in hooks_of(d)
        finally:
            d.stop()

        # A hook on a new engine that the fleet does not have is seeded.
        e = FleetEngine(tmp_path, "e", nats_server.url)
        ok(
            e.cli(
                "hook",
                "add",
                "own",
                "--event",
                "custom",
                "--file",
                str(lua(tmp_path, "4.lua", CODE_1)),
            )
        )
        e.start()
        try:
            wait_for(code_is(a, "own", CODE_1), what="own on a")
            wait_for(code_is(e, "h2", CODE_2), what="h2 on e")
        finally:
            e.stop()
        assert counters(a).get("hooks_conflicts", 0) == 0
    finally:
        a.stop()


def test_a_write_conflict_converges_once(tmp_path: Path, nats_server: NatsServer) -> None:
    fleet = Fleet(tmp_path, nats_server.url, ["a", "b"]).start()
    try:
        a, b = fleet["a"], fleet["b"]
        ok(
            a.cli(
                "hook",
                "add",
                "h",
                "--event",
                "deploy.*",
                "--file",
                str(lua(tmp_path, "1.lua", CODE_1)),
            )
        )
        wait_for(lambda: code_of(b, "h") == CODE_1, what="h on b")
        rev = kv_revision(nats_server.url, "h")
        pushed = counters(a).get("hooks_pushed", 0)

        # b is frozen while both engines edit h: b its file, a its description.
        assert b.proc is not None
        os.kill(b.proc.pid, signal.SIGSTOP)
        try:
            Path(hooks_of(b)["h"]["file"]).write_text(CODE_2)
            ok(a.cli("hook", "update", "h", "--description", "from a"))
            wait_for(lambda: kv_revision(nats_server.url, "h") > rev, what="a's edit in KV")
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)

        # KV (a's) wins on b; b says so once.
        wait_for(lambda: hooks_of(b)["h"]["description"] == "from a", what="a's edit on b")
        wait_for(lambda: code_of(b, "h") == CODE_1, what="b's file back to a's code")
        wait_for(lambda: counters(b).get("hooks_conflicts") == 1, what="b's conflict counted")
        wait_for(
            lambda: any("edited on a and b at once; a's kept" in m for m in warnings_of(b)),
            what="the warning on b",
        )
        assert code_of(a, "h") == CODE_1
        assert counters(a).get("hooks_pushed") == pushed + 1

        # Nothing loops: another hook goes round the fleet after it, and h stays as it was.
        settled = kv_revision(nats_server.url, "h")
        ok(
            a.cli(
                "hook",
                "add",
                "marker",
                "--event",
                "custom",
                "--file",
                str(lua(tmp_path, "m.lua", CODE_2)),
            )
        )
        wait_for(lambda: code_of(b, "marker") == CODE_2, what="marker on b")
        ok(b.cli("hook", "update", "marker", "--description", "round trip"))
        wait_for(lambda: hooks_of(a)["marker"]["description"] == "round trip", what="back on a")
        assert kv_revision(nats_server.url, "h") == settled
        assert counters(b).get("hooks_conflicts") == 1
        assert counters(a).get("hooks_conflicts", 0) == 0
    finally:
        fleet.stop()


def test_hostile_entries_are_refused(tmp_path: Path, nats_server: NatsServer) -> None:
    good = {
        "name": "good",
        "events": ["deploy.*"],
        "file": "/elsewhere/good.lua",
        "description": "",
        "enabled": True,
        "timeout": 10.0,
        "code": CODE_1,
        "by": "test",
        "ts": 0,
    }
    hostile: dict[str, bytes] = {
        "notjson": b"{not json",
        "notahook": json.dumps([1, 2, 3]).encode(),
        "nocode": json.dumps({**good, "name": "nocode", "code": None}).encode(),
        "badlua": json.dumps({**good, "name": "badlua", "code": "this is not lua ((("}).encode(),
        "badevents": json.dumps({**good, "name": "badevents", "events": "deploy"}).encode(),
        "_dbad": json.dumps({**good, "name": ".bad"}).encode(),  # not a valid hook name
        "other": json.dumps({**good, "name": "someone_else"}).encode(),
    }

    async def put_all(kv: Any) -> None:
        for key, value in hostile.items():
            await kv.put(key, value)
        await kv.put("good", json.dumps(good).encode())

    a = FleetEngine(tmp_path, "a", nats_server.url).start()  # the buckets exist now
    try:
        kv_call(nats_server.url, put_all)
        wait_for(lambda: code_of(a, "good") == CODE_1, what="the good hook on a")
        wait_for(lambda: counters(a).get("hooks_refused") == len(hostile), what="refusals")
        assert set(hooks_of(a)) == {"good"}
        # A newcomer reconciles over the same entries: the same refusals, no crash.
        b = FleetEngine(tmp_path, "b", nats_server.url).start()
        try:
            wait_for(lambda: code_of(b, "good") == CODE_1, what="the good hook on b")
            wait_for(lambda: counters(b).get("hooks_refused") == len(hostile), what="b refusals")
            assert set(hooks_of(b)) == {"good"}
            # Still syncing: a change of the good hook goes through.
            ok(b.cli("hook", "update", "good", "--description", "still here"))
            wait_for(lambda: hooks_of(a)["good"]["description"] == "still here", what="sync")
        finally:
            b.stop()
        assert a.proc is not None and a.proc.poll() is None
        assert "Traceback" not in a.output()
    finally:
        a.stop()


def test_nats_down_then_back_and_then_empty(tmp_path: Path, nats_server: NatsServer) -> None:
    """An edit made while NATS is down goes out once it is back; a NATS that comes back
    with an empty store gets the fleet's hooks again from the engines."""
    fleet = Fleet(tmp_path, nats_server.url, ["a", "b"]).start()
    try:
        a, b = fleet["a"], fleet["b"]
        ok(
            a.cli(
                "hook",
                "add",
                "h",
                "--event",
                "deploy.*",
                "--file",
                str(lua(tmp_path, "1.lua", CODE_1)),
            )
        )
        wait_for(code_is(b, "h", CODE_1), what="h on b")

        nats_server.stop()
        ok(a.cli("hook", "update", "h", "--description", "offline edit"))
        nats_server.restart()
        wait_for(field_is(b, "h", "description", "offline edit"), what="the offline edit on b")

        nats_server.stop()
        shutil.rmtree(nats_server.store_dir)
        nats_server.start()
        wait_for(lambda: kv_has(nats_server.url, "h"), what="h seeded again")
        ok(b.cli("hook", "update", "h", "--description", "after the reset"))
        wait_for(field_is(a, "h", "description", "after the reset"), what="sync after the reset")
        for engine in (a, b):
            assert counters(engine).get("hooks_conflicts", 0) == 0
    finally:
        fleet.stop()


def kv_has(url: str, key: str) -> bool:
    async def get(kv: Any) -> bool:
        try:
            await kv.get(key)
        except Exception:
            return False
        return True

    try:
        return bool(kv_call(url, get))
    except Exception:  # the bucket is not there yet
        return False


# -- decoding what is in the bucket: anything, and only Refused comes out -------------------

_GOOD = {"name": "h", "events": ["deploy.*"], "file": "x", "code": CODE_1, "timeout": 5.0}


@settings(deadline=None)
@given(st.binary(max_size=300) | hostile_json().map(lambda v: json.dumps(v).encode()))
def test_any_bytes_decode_or_are_refused(raw: bytes) -> None:
    try:
        remote = decode("h", raw, 1, 0.0)
    except Refused as exc:
        assert "\n" not in str(exc)
    else:
        assert remote.name == "h" and remote.hook is not None


_FIELDS = [*sorted(_GOOD), "run_count", "last_run", "created", "policy", "stack", "enabled"]
_FIELDS += ["description", "max_instructions", "max_memory_mb", "disabled_reason", "by"]


@settings(deadline=None)
@given(
    st.sampled_from(_FIELDS) | hostile_text(30),
    hostile_json() | st.sampled_from([float("inf"), float("nan"), -1, 10**30, True]),
)
def test_any_field_value_decodes_or_is_refused(field: str, value: object) -> None:
    try:
        remote = decode("h", json.dumps({**_GOOD, field: value}).encode(), 1, 0.0)
    except Refused as exc:
        assert "\n" not in str(exc)
    else:
        assert remote.hook is not None and remote.by.isprintable()
