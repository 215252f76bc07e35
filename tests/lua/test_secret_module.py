"""secret.get in hooks, and the redaction of what a run read from every record it leaves.

Real vault files (a real key, real Fernet tokens), the real Lua runtime, the fake host
of conftest (it keeps the events a run dispatches), and a real loopback HTTP server
for the one request whose body must carry the real value out while its record does not.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sloth_tui import secret_vault
from sloth_tui.lua import redact
from sloth_tui.lua.runtime import HookRuntime, Limits
from sloth_tui.model.records import Event, Execution, Hook
from sloth_tui.secret_vault import Vault

if TYPE_CHECKING:
    from conftest import FakeHost, Server  # tests/lua/conftest.py: the fixtures' types

VALUE = 'xoxb-SECRET-\x1b[31m"quoted"-ünï-\U0001f511-value'
LABEL = "[secret:slack]"


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    v = Vault(tmp_path / "secrets.json", tmp_path / "secrets.key")
    v.put("slack", VALUE)
    return v


@pytest.fixture
def rt(host: FakeHost, vault: Vault) -> HookRuntime:
    return HookRuntime(host, Limits(secret_files=(str(vault.path), str(vault.key_path))))


def strings(value: Any) -> Iterable[str]:
    """Every string in a JSON-shaped value, dict keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from strings(v)


def record_texts(exe: Execution) -> list[str]:
    """What the run's record holds, as the store and `hook logs --json` would keep it."""
    whole = exe.to_dict()
    return [*strings(whole), json.dumps(whole), json.dumps(whole, ensure_ascii=False)]


def leaks(value: str, texts: Iterable[str]) -> list[str]:
    """The texts where `value` still shows (labels blanked first: a label may contain a
    value such as "[secret:", which is no leak)."""
    blank = re.compile(r"\[secret:[A-Za-z0-9_.-]+\]")
    once = [json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]]
    forms = {value, *once, *(json.dumps(f)[1:-1] for f in once)}
    forms = {f for f in forms if len(f) >= secret_vault.MIN_VALUE}
    return [t for t in texts if any(f in blank.sub("\ue000", t) for f in forms)]


def test_a_hook_reads_a_value_and_the_read_is_recorded_without_it(
    rt: HookRuntime, host: FakeHost, make_hook: Callable[..., Hook], deploy_event: Event
) -> None:
    hook = make_hook(
        """
        function on_event()
          local v = secret.get("slack")
          log.info("token is " .. v)
          log.warn(json.encode({token = v, n = #v}))
          print(v)
          return {token = v, same = (v == secret.get("slack"))}
        end
        """,
        name="notify-slack",
    )
    exe = rt.run(hook, deploy_event)
    assert exe.status == "success", exe.error
    assert exe.logs[0].message == "token is " + LABEL
    assert json.loads(exe.logs[1].message) == {"token": LABEL, "n": len(VALUE.encode())}
    assert exe.result == {"token": LABEL, "same": True}
    assert not leaks(VALUE, record_texts(exe))
    accessed = [e for e in host.events if e.type == "secret.accessed"]
    assert len(accessed) == 2  # one per read
    for event in accessed:
        assert event.data["secret_name"] == "slack"
        assert event.data["accessed_by"] == "notify-slack"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event.data["access_time"])
        assert event.source == "hook:notify-slack" and event.parent_id == deploy_event.id
        assert not leaks(VALUE, strings(event.data))
    assert [c["fn"] for c in exe.calls] == ["secret.get", "secret.get"]


def test_unknown_expired_and_bad_names_answer_nil_err(
    rt: HookRuntime, host: FakeHost, vault: Vault, make_hook: Callable[..., Hook],
    deploy_event: Event,
) -> None:  # fmt: skip
    vault.put("old-token", "expired-value-123")
    vault.set_expiry("old-token", 1.0)  # 1970: long expired
    hook = make_hook(
        """
        function on_event()
          local out = {}
          for _, n in ipairs({"nope", "old-token", "bad name!", 42}) do
            local v, err = secret.get(n)
            out[#out + 1] = {v == nil, err}
          end
          return out
        end
        """
    )
    exe = rt.run(hook, deploy_event)
    assert exe.status == "success", exe.error
    [unknown, expired, bad, number] = exe.result
    assert unknown == [True, "secret.get: no secret named 'nope'"]
    assert expired[0] is True and expired[1].startswith("secret.get: expired: ")
    assert bad[0] is True and "bad secret name" in bad[1]
    assert number == [True, "secret.get: name must be a string, got int"]
    assert host.events == []  # no value handed out, nothing accessed


def test_no_vault_wrong_key_and_tampered_key_are_nil_err(
    host: FakeHost, vault: Vault, make_hook: Callable[..., Hook], deploy_event: Event
) -> None:
    hook = make_hook(
        'return {execute = function() local v, e = secret.get("slack") return {v = v, e = e} end}'
    )
    bare = HookRuntime(host).run(hook, deploy_event)
    assert bare.result == {"e": "secret.get: no secret vault in this run"}

    rt = HookRuntime(host, Limits(secret_files=(str(vault.path), str(vault.key_path))))
    vault.key_path.write_bytes(Fernet.generate_key())  # another valid key
    wrong = rt.run(hook, deploy_event)
    assert wrong.status == "success"
    assert list(wrong.result) == ["e"]
    assert "the key file does not match the vault" in wrong.result["e"]

    vault.key_path.write_bytes(b"not a key at all")
    tampered = rt.run(hook, deploy_event)
    assert tampered.result["e"].endswith("not a valid key file (tampered or truncated)")
    assert host.events == []


def test_a_read_that_cannot_be_recorded_is_refused(
    rt: HookRuntime, host: FakeHost, make_hook: Callable[..., Hook]
) -> None:
    """At the chain's depth limit secret.accessed is refused, and so is the read."""
    deep = Event(id=9, type="custom", category="custom", data={}, source="x", depth=8)
    hook = make_hook('function on_event() local v, e = secret.get("slack") return {v, e} end')
    exe = rt.run(hook, deep)
    assert list(exe.result) == ["2"]  # {nil, err}
    assert "the access could not be recorded" in exe.result["2"]
    assert host.events == []


def test_a_dry_run_reads_the_value_and_its_record_stays_redacted(
    rt: HookRuntime, host: FakeHost, make_hook: Callable[..., Hook], deploy_event: Event
) -> None:
    """A test-fire can read secrets: the hook sees the real value (its length, its
    bytes), yet the record holds only the label, and nothing is dispatched."""
    hook = make_hook(
        """
        function on_event()
          local v = secret.get("slack")
          log.info("len " .. #v .. " starts " .. v:sub(1, 5))
          http.post("http://127.0.0.1:9/hook?token=" .. v, {text = v})
          event.dispatch("custom", {name = "n", message = v})
          error("failed with " .. v)
        end
        """,
        name="tester",
    )
    exe = rt.run(hook, deploy_event, dry_run=True)
    assert exe.dry_run and exe.status == "error"
    assert exe.logs[0].message == f"len {len(VALUE.encode())} starts xoxb-"
    assert exe.error is not None and exe.error.endswith("failed with " + LABEL)
    [read, post, dispatched] = exe.calls
    assert read["fn"] == "secret.get" and read["dry_run"] is True
    assert read["would_dispatch"]["type"] == "secret.accessed"
    assert read["would_dispatch"]["data"]["accessed_by"] == "tester"
    assert post["url"] == "http://127.0.0.1:9/hook?token=" + LABEL
    assert post["body"] == {"text": LABEL}
    assert dispatched["data"]["message"] == LABEL
    assert not leaks(VALUE, record_texts(exe))
    assert host.events == []  # a dry run stores nothing


def test_the_real_request_carries_the_value_and_its_record_does_not(
    rt: HookRuntime, host: FakeHost, make_hook: Callable[..., Hook], deploy_event: Event,
    http_server: Server,
) -> None:  # fmt: skip
    hook = make_hook(
        f"""
        function on_event()
          local v = secret.get("slack")
          local r, err = http.post("{http_server.url}/post", {{token = v}})
          log.info("answer " .. r.body)
          event.dispatch("custom", {{name = "sent", message = "with " .. v, [v] = 1}})
          local _, e2 = http.post("http://127.0.0.1:1/" .. v, "x")
          log.error(e2)
          return r.status
        end
        """
    )
    exe = rt.run(hook, deploy_event)
    assert exe.status == "success", exe.error
    [received] = http_server.received
    assert received.json() == {"token": VALUE}  # the server got the real value
    assert LABEL in exe.logs[0].message  # the server's echo of the body, redacted
    # the refused URL, in the error, and quoted (a Python repr) by the client's reason
    assert exe.logs[1].message.startswith("http.post http://127.0.0.1:1/" + LABEL + ": ")
    assert f"'/{LABEL}'" in exe.logs[1].message
    assert not leaks(VALUE, record_texts(exe))
    assert exe.calls[1]["body"] == {"token": LABEL}
    assert exe.calls[3]["url"] == "http://127.0.0.1:1/" + LABEL
    assert exe.calls[3]["error"]
    sent = [e for e in host.events if e.type == "custom"]
    assert sent[0].data == {"name": "sent", "message": "with " + LABEL, LABEL: 1}


def test_redaction_minimum_is_the_vaults() -> None:
    """The vault refuses what redaction would not hold to."""
    assert redact.MIN_VALUE == secret_vault.MIN_VALUE
    short = "x" * (secret_vault.MIN_VALUE - 1)
    with pytest.raises(secret_vault.VaultError, match="at least"):
        secret_vault.check_value(short)
    assert redact.Redactor({short: "s"}).text(f"a {short} b") == f"a {short} b"


def test_a_value_cut_at_a_clip_marker_leaves_no_prefix() -> None:
    value = "0123456789abcdefghij"
    r = redact.Redactor({value: "k"})
    assert r.text("log " + value[:12] + " …[truncated]") == "log [secret:k] …[truncated]"
    assert r.text("x" + value[:15] + "…[40 more characters]") == "x[secret:k]…[40 more characters]"
    assert r.text(value[:7] + " …[truncated]") == value[:7] + " …[truncated]"  # too short
    # a split character turned into U+FFFD by the repair goes too
    uni = "ééééééééééééééé"
    assert redact.Redactor({uni: "u"}).text(uni[:9] + "\ufffd …[truncated]") == (
        "[secret:u]\ufffd …[truncated]"
    )


def test_overlapping_values_leave_nothing_of_either() -> None:
    r = redact.Redactor({"abcdefghij": "a", "ghijklmnop": "b"})
    assert r.text("x abcdefghijklmnop y") == "x [secret:a] y"
    # a value that is part of its own label leaves the label whole
    assert redact.Redactor({"[secret:": "q"}).text("a [secret: b") == "a [secret:q] b"


def test_a_value_put_in_state_is_stored_as_its_label(
    rt: HookRuntime, host: FakeHost, make_hook: Callable[..., Hook], deploy_event: Event
) -> None:
    """state lives in sloth.db: a hook caching a value there stores the label."""
    hook = make_hook(
        'function on_event() state.set("tok", {t = secret.get("slack")})'
        ' return state.get("tok").t end',
        name="cacher",
    )
    exe = rt.run(hook, deploy_event)
    assert exe.result == LABEL
    assert host.state[("cacher", "tok")] == {"t": LABEL}


# -- hostile values ----------------------------------------------------------------------

_TEXT = st.characters(blacklist_categories=("Cs",))  # any character UTF-8 can hold
_VALUES = st.one_of(
    st.text(_TEXT, min_size=secret_vault.MIN_VALUE, max_size=40),
    # huge: past the log line's 8 KiB clip, so the prefix rule is exercised
    st.builds(
        lambda head, unit, size: head + (unit * (size // len(unit) + 1))[:size],
        st.text(_TEXT, min_size=secret_vault.MIN_VALUE, max_size=12),
        st.text(_TEXT, min_size=1, max_size=5),
        st.integers(8200, 12000),
    ),
)

_HOSTILE_HOOK = """
function on_event()
  local v = secret.get("k")
  log.info(v)
  log.warn("pre " .. v .. " post")
  log.error(json.encode({v = v, list = {v, v}}))
  http.post("http://127.0.0.1:9/" .. v, {body = v})
  event.dispatch("custom", {name = "n", message = v})
  if event.data.fail then error("boom " .. v) end
  return {v, {nested = v}}
end
"""


@settings(
    max_examples=60, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(value=_VALUES, fail=st.booleans())
def test_any_value_of_the_minimum_length_is_redacted_everywhere(
    tmp_path: Path, host: FakeHost, value: str, fail: bool
) -> None:
    assume(value.strip())
    fixed = ("pre ", " post", "boom ", "hostile.lua:10: ", '{"v":"', "http://127.0.0.1:9/")
    assume(not any(value in f for f in fixed))
    home = tmp_path / f"v{abs(hash(value)) % 10**9}"
    home.mkdir(exist_ok=True)
    v = Vault(home / "secrets.json", home / "secrets.key")
    v.put("k", value)
    assert value.encode() not in v.path.read_bytes()
    hook_file = home / "hostile.lua"
    hook_file.write_text(_HOSTILE_HOOK)
    rt = HookRuntime(host, Limits(secret_files=(str(v.path), str(v.key_path))))
    ev = Event(id=1, type="custom", category="custom", data={"fail": fail}, source="t")
    # A generous deadline: a loaded machine must not turn a slow run into a failure.
    hook = Hook(name="hostile", events=["*"], file=str(hook_file), timeout=120)
    exe = rt.run(hook, ev, dry_run=True)
    assert exe.status == ("error" if fail else "success"), exe.error
    assert not leaks(value, record_texts(exe)), exe.to_dict()
    assert any("[secret:k]" in line.message for line in exe.logs)


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=100), value=st.text(max_size=300))
def test_any_name_or_value_is_stored_or_refused_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, name: str, value: str
) -> None:
    home = tmp_path_factory.mktemp("v")
    v = Vault(home / "secrets.json", home / "secrets.key")
    try:
        v.put(name, value)
    except secret_vault.VaultError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 300
        return
    assert v.get(name) == value
    assert os.stat(v.path).st_mode & 0o777 == 0o600
