"""Hostile text through the real CLI: human output shows escapes, --json stays exact.

An event's data, a hook's description, its logs and its errors come from strangers; none
of it may reach the terminal as a control sequence (retitle, clear screen, hyperlink,
clipboard, bidi reordering), and none of it may end in a traceback.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hostile import SAMPLES, hostile_data, hostile_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloth_tui.cli import main

# What must never reach a terminal: C0 controls but the newline ending each line, DEL,
# C1 controls, bidi embeddings/overrides/isolates and marks, line/paragraph separators,
# and lone surrogates (not text at all).
UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
    "\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)

HOOK = """\
function on_event()
  log.warn(tostring(event.data.msg))
  print(tostring(event.data.msg))
  if event.data.fail then error(tostring(event.data.err), 0) end
  return {echo = event.data.msg}
end
"""


def assert_safe(result: Result, what: object) -> None:
    """No traceback, and nothing a terminal would act on, on stdout or stderr."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        what,
        result.exception,
    )
    assert "error: unexpected " not in result.stderr, (what, result.stderr)  # a crash log
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream, what
        bad = UNSAFE.search(stream)
        assert bad is None, (what, repr(bad.group()), stream[:2000])


class Cli:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(main, ["--home", str(self.home), *args])


@pytest.fixture
def cli(home: Path) -> Cli:
    return Cli(home)


def _has_surrogate(value: object) -> bool:
    return bool(re.search("[\ud800-\udfff]", json.dumps(value, ensure_ascii=False)))


_names = itertools.count()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=hostile_data(),
    msg=hostile_text(),
    err=hostile_text(),
    # Passed on the command line, which exec cannot give a NUL (the CLI refuses one).
    description=hostile_text().map(lambda s: s.replace("\x00", "")),
    fail=st.booleans(),
    event_type=st.sampled_from(["custom", "deploy.failed", "myapp.thing"]),
)
def test_hostile_events_and_hooks_never_reach_the_terminal(
    cli: Cli,
    tmp_path: Path,
    data: dict[str, object],
    msg: str,
    err: str,
    description: str,
    fail: bool,
    event_type: str,
) -> None:
    hook_file = tmp_path / "echo.lua"
    hook_file.write_text(HOOK)
    name = f"h{next(_names)}"
    added = cli("hook", "add", name, "--event", event_type, "--file", str(hook_file),
                "--description", description)  # fmt: skip
    assert_safe(added, "hook add")
    payload = data | {"msg": msg, "err": err, "fail": fail}

    dispatched = cli("event", "dispatch", event_type, "--data", json.dumps(payload), "--json")
    assert_safe(dispatched, "dispatch --json")
    if _has_surrogate(payload) or _has_surrogate(description):
        # Not storable as UTF-8: refused in one line, never half-written.
        assert dispatched.exit_code != 0 or added.exit_code != 0
        return
    assert added.exit_code == 0, added.output
    assert dispatched.exit_code == 0, dispatched.output
    assert "\x1b" not in dispatched.stdout  # JSON escapes it: \u001b
    out = json.loads(dispatched.stdout)
    assert out["event"]["data"] == payload  # exact, hostile bytes and all
    event_id = str(out["id"])

    human = cli("event", "dispatch", event_type, "--data", json.dumps(payload))
    assert_safe(human, "dispatch")
    assert human.exit_code == 0
    for args in (
        ["event", "list", "--limit", "5"],
        ["event", "show", event_id],
        ["hook", "list"],
        ["hook", "show", name, "--history"],
        ["hook", "logs", name, "--limit", "2"],
        ["hook", "test", name, "--data", json.dumps(payload)],
        ["hook", "retry", name, "--list"],
        ["event", "rerun", event_id, "--hook", name],
    ):
        result = cli(*args)
        assert_safe(result, args)
        assert result.exit_code in (0, 1), (args, result.output)

    logs = json.loads(cli("hook", "logs", name, "--limit", "1", "--json").stdout)
    assert logs[0]["event_id"] == out["id"]  # the rerun, newest
    shown = json.loads(cli("event", "show", event_id, "--json").stdout)
    assert shown["data"] == payload
    hooks = json.loads(cli("hook", "show", name, "--json").stdout)
    assert hooks["description"] == description


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=hostile_text())
def test_hostile_arguments_get_one_clean_error_line(cli: Cli, text: str) -> None:
    for args in (
        ["event", "dispatch", text],
        ["event", "dispatch", "custom", text],
        ["event", "list", "--filter", text],
        ["event", "list", "--type", text],
        ["hook", "show", text],
        ["hook", "delete", text, "--force"],
        ["event", "cleanup", "--older-than", text],
        ["event", "types", "--category", text],
        [text],
    ):
        result = cli(*args)
        assert_safe(result, args)


@pytest.mark.parametrize("sample", [s for s in SAMPLES if len(s) < 1000])
def test_each_sample_in_event_list_and_show(cli: Cli, sample: str) -> None:
    data = {"k": sample, sample: [sample, {"n": sample}]}
    refused = _has_surrogate(data)
    out = cli("emit", "deploy.failed", "--data", json.dumps(data), "--json")
    assert_safe(out, "emit")
    if refused:
        assert out.exit_code == 1 and out.stderr.startswith("error: ")
        return
    event = json.loads(out.stdout)
    assert event["event"]["data"] == data
    for args in (["event", "list"], ["event", "show", str(event["id"])]):
        result = cli(*args)
        assert_safe(result, args)
        assert result.exit_code == 0


def test_escapes_are_visible(cli: Cli) -> None:
    data = {"title": "\x1b]0;pwned\x07", "clear": "\x1b[2J", "rtl": "\u202eevil", "c1": "\x9b1m"}
    out = json.loads(cli("emit", "custom", "--data", json.dumps(data), "--json").stdout)
    listed = cli("event", "list").stdout
    assert "\\x1b]0;pwned\\x07" in listed and "\\u202eevil" in listed
    shown = cli("event", "show", str(out["id"])).stdout
    # The data block is still JSON: escapes that JSON reads back.
    assert "\\u001b[2J" in shown and "\\u202eevil" in shown and "\\u009b1m" in shown


def test_a_hostile_file_name_and_description(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "evil\x1b]0;pwned\x07\u202e.lua"
    path.write_text('function on_event() log.info("a\\27[2Jb\\nfake line") return true end\n')
    added = cli("hook", "add", "evil", "--event", "custom", "--file", str(path),
                "--description", "line1\nline2\x1b[31m")  # fmt: skip
    assert_safe(added, "add")
    assert added.exit_code == 0, added.output
    assert "\\x1b]0;pwned\\x07\\u202e.lua" in added.stdout
    for args in (["hook", "list"], ["hook", "show", "evil"], ["hook", "test", "evil"]):
        result = cli(*args)
        assert_safe(result, args)
        assert result.exit_code == 0, result.output
    shown = cli("hook", "show", "evil").stdout
    assert "description: line1\\nline2\\x1b[31m" in shown
    tested = cli("hook", "test", "evil").stdout
    assert "a\\x1b[2Jb\\nfake line" in tested  # one log line stays one line


def test_json_output_is_exact_and_inert(cli: Cli) -> None:
    data = {"esc": "\x1b]0;x\x07", "c1": "\x9b2J", "rtl": "\u202e", "del": "\x7f", "ls": "\u2028"}
    emitted = cli("emit", "custom", "--data", json.dumps(data), "--json")
    assert emitted.exit_code == 0
    listed = cli("event", "list", "--json")
    for raw in (emitted.stdout, listed.stdout):
        assert UNSAFE.search(raw.replace("\n", "")) is None
        assert "\\u001b]0;x\\u0007" in raw and "\\u009b2J" in raw and "\\u202e" in raw
    assert json.loads(emitted.stdout)["event"]["data"] == data
    assert json.loads(listed.stdout)[0]["data"] == data


def test_an_argument_that_is_not_utf8_is_refused_in_one_line(cli: Cli) -> None:
    # What Python makes of argv bytes that are not UTF-8 (surrogateescape).
    for args in (["emit", "custom", "x=\udcff"], ["hook", "show", "\udcffname"]):
        result = cli(*args)
        assert result.exit_code == 2
        assert result.stderr.startswith("error: argument ") and "not valid UTF-8" in result.stderr
        assert_safe(result, args)
