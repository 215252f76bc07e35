"""`event export` and `event import FILE`: events as JSON lines. Real homes, real engines
(the CLI over --home, embedded), and one import into a real running `serve`."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hostile import SAMPLES, hostile_data, hostile_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sourcekit import DaemonProcess, run_cli, wait_for

from sloth_tui.cli import main
from sloth_tui.commands import event_io
from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine

_RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e]")
Cli = Callable[..., Result]


def make_cli(home: Path) -> Cli:
    def invoke(*args: str, input: str | bytes | None = None) -> Result:
        return CliRunner().invoke(main, ["--home", str(home), "--embedded", *args], input=input)

    return invoke


@pytest.fixture
def cli(home: Path) -> Cli:
    return make_cli(home)


def fill(home: Path, items: list[tuple[Any, ...]]) -> None:
    """Dispatch events straight into the home's engine (hooks run to the end)."""

    async def go() -> None:
        engine = await Engine.open(load_settings(home))
        try:
            for item in items:
                await engine.dispatch(
                    item[0], item[1], source=item[2], **(item[3] if len(item) > 3 else {})
                )
            await engine.wait_idle()
        finally:
            await engine.close()

    asyncio.run(go())


def export(cli: Cli, *args: str) -> list[dict[str, Any]]:
    result = cli("event", "export", *args)
    assert result.exit_code == 0, result.output
    assert not _RAW.search(result.stdout), "a raw control character in the export"
    return [json.loads(line) for line in result.stdout.splitlines()]


def count(cli: Cli) -> int:
    return len(export(cli))


# -- export ---------------------------------------------------------------------------------


def test_export_pages_oldest_first_and_filters(
    cli: Cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_io, "PAGE", 3)  # 8 events: three pages, the last short
    fill(home, [("deploy.failed" if i % 2 else "custom", {"n": i}, "cli") for i in range(8)])
    rows = export(cli)
    assert [r["data"]["n"] for r in rows] == list(range(8))  # oldest first, none twice
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert set(rows[0]) == set(
        [
            "id",
            "type",
            "category",
            "data",
            "source",
            "status",
            "ts",
            "parent_id",
            "depth",
            "warnings",
            "stack",
            "agent",
            "run_id",
            "origin",
        ]
    )
    only = export(cli, "--filter", "type:deploy.*")
    assert [r["data"]["n"] for r in only] == [1, 3, 5, 7]
    cut = rows[4]["ts"]
    later = export(cli, "--since", f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(cut))}")
    assert later and all(r["ts"] >= int(cut) for r in later)
    assert export(cli, "--until", "2000-01-01") == []
    bad = cli("event", "export", "--filter", "type:")
    assert bad.exit_code == 2 and bad.stderr.count("\n") <= 2


# -- the round trip -------------------------------------------------------------------------

CHILD_HOOK = (
    'function on_event() event.dispatch("deploy.rollback", {why = "child"}) return true end'
)
BOOM_HOOK = 'function on_event() error("boom") end'
NASTY = "[red]x[/] \x1b]0;pwned\x07 \x9b31m \u202eevil \nline2 🦥"


def test_round_trip_export_import_export(cli: Cli, home: Path, tmp_path: Path) -> None:
    for name, code, pattern in (
        ("child", CHILD_HOOK, "deploy.failed"),
        ("boom", BOOM_HOOK, "task.*"),
    ):
        (tmp_path / f"{name}.lua").write_text(code)
        assert (
            cli("hook", "add", name, "-f", str(tmp_path / f"{name}.lua"), "-e", pattern).exit_code
            == 0
        )
    fill(
        home,
        [
            ("deploy.failed", {"service": NASTY, "nested": {"a": [1, 2.5, None, True]}}, "cli",
             {"stack": "prod", "agent": "agent-1", "run_id": "r-9"}),
            ("task.failed", {"task_name": "t"}, "watcher:etc"),  # its hook fails: status failed
            ("custom", {NASTY: NASTY}, "dashboard"),
            ("custom", {}, "socket:ci"),
        ],
    )  # fmt: skip
    first = export(cli)
    assert len(first) == 5  # the child the hook dispatched included
    assert {r["status"] for r in first} == {"completed", "failed"}
    child = next(r for r in first if r["parent_id"] is not None)
    assert child["depth"] == 1 and child["source"] == "hook:child"

    file = tmp_path / "events.jsonl"
    file.write_text(cli("event", "export").stdout)
    other_home = tmp_path / "other"
    other_home.mkdir()
    other = make_cli(other_home)
    (tmp_path / "watch.lua").write_text("function on_event() return true end")
    assert (
        other("hook", "add", "watch", "-f", str(tmp_path / "watch.lua"), "-e", "*").exit_code == 0
    )

    imported = other("event", "import", str(file))
    assert imported.exit_code == 0, imported.output
    assert imported.stdout.strip() == "imported 5 events"
    second = export(other)
    # What must differ: the ids (the store numbers its own rows) and the parent links
    # with them (an imported event comes in at the top). Everything else is the same.
    assert [r["id"] for r in second] == [1, 2, 3, 4, 5]
    assert all(r["parent_id"] is None and r["depth"] == 0 for r in second)
    differ = ("id", "parent_id", "depth")
    strip = [{k: v for k, v in r.items() if k not in differ} for r in first]
    assert [{k: v for k, v in r.items() if k not in differ} for r in second] == strip
    # No hook ran on them (they happened elsewhere): `watch` matches every type.
    logs = other("hook", "logs", "watch", "--json")
    assert logs.exit_code == 0 and json.loads(logs.stdout) == [], logs.output

    again = other("event", "import", str(file))
    assert again.exit_code == 0
    assert again.stdout.strip() == "imported 0 events, 5 already here (imported before)"
    assert count(other) == 5


def test_as_new_dispatches_now_and_runs_hooks(cli: Cli, home: Path, tmp_path: Path) -> None:
    lines = [
        {"type": "deploy.failed", "data": {"service": "api"}, "source": "watcher", "ts": 1.0},
        {"type": "custom", "data": {}},  # no ts: fine as new
    ]
    file = tmp_path / "e.jsonl"
    file.write_text("".join(json.dumps(x) + "\n" for x in lines))
    (tmp_path / "h.lua").write_text("function on_event() return true end")
    assert cli("hook", "add", "h", "-f", str(tmp_path / "h.lua"), "-e", "deploy.*").exit_code == 0
    plain = cli("event", "import", str(file))
    assert plain.exit_code == 1 and "line 2: ts: missing" in plain.stderr  # kept times need one
    before = time.time()
    result = cli("event", "import", "--as-new", str(file))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "dispatched 2 new events"
    rows = export(cli)
    assert [r["type"] for r in rows] == ["deploy.failed", "custom"]
    assert all(r["source"] == "cli" and r["ts"] >= before - 1 for r in rows)
    ran = cli("hook", "logs", "h", "--json")
    assert [x["event_id"] for x in json.loads(ran.stdout)] == [rows[0]["id"]]


# -- bad input ------------------------------------------------------------------------------


def test_bad_lines_are_named_and_nothing_is_imported(cli: Cli, tmp_path: Path) -> None:
    good = json.dumps({"type": "custom", "data": {}, "ts": 5})
    text = "\n".join(
        [
            good,
            "{not json",
            "[1, 2]",
            json.dumps({"type": "Deploy Failed", "ts": 1}),
            "",  # blank lines are skipped
            json.dumps({"type": "custom", "ts": 1, "data": [1]}),
            json.dumps({"type": "custom", "ts": 1, "colour": "red"}),
            json.dumps({"type": "custom", "ts": "yesterday"}),
            json.dumps({"type": "custom", "ts": 1, "status": "\x1b[2Jdone"}),
            json.dumps({"type": "custom", "ts": 1, "stack": "a\nb"}),
            '{"type": "custom", "ts": NaN}',
            json.dumps({"type": "custom", "ts": 1, "data": {"x": "y" * 300_000}}),
            json.dumps({"type": "custom", "ts": 1, "data": {"a": _deep(40)}}),
            good,
        ]
    )
    file = tmp_path / "bad.jsonl"
    file.write_text(text + "\n")
    result = cli("event", "import", str(file))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert [x.split(":")[0] for x in lines] == ["error"] * 11
    numbers = [int(x.split("line ")[1].split(":")[0]) for x in lines]
    assert numbers == [2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13]
    assert "unknown field 'colour'" in lines[4]
    assert "\\x1b" in lines[6] and not _RAW.search(result.stderr)
    assert lines[-1].endswith("(11 bad lines: nothing imported)")
    assert count(cli) == 0


def _deep(n: int) -> Any:
    value: Any = 1
    for _ in range(n):
        value = {"d": value}
    return value


def test_many_bad_lines_are_counted_past_a_hundred(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "junk.jsonl"
    file.write_text("junk\n" * 150)
    result = cli("event", "import", str(file))
    lines = result.stderr.splitlines()
    assert result.exit_code == 1 and len(lines) == 100
    assert lines[-1].endswith("; and 50 more bad lines (150 bad lines: nothing imported)")


def test_a_huge_line_is_refused_without_being_read_whole(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "huge.jsonl"
    file.write_bytes(b'{"type": "custom", "data": {"x": "' + b"y" * (3 << 20) + b'"}}\n' + b"{}\n")
    result = cli("event", "import", str(file))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: line 1: longer than 2 MiB",
        "error: line 2: type: missing (2 bad lines: nothing imported)",
    ]


def test_stdin_is_a_dash(cli: Cli) -> None:
    line = json.dumps({"type": "custom", "data": {"via": "stdin"}, "ts": 10, "source": "x"})
    result = cli("event", "import", "-", input=line + "\n")
    assert result.exit_code == 0, result.output
    assert [(r["data"], r["source"], r["ts"]) for r in export(cli)] == [({"via": "stdin"}, "x", 10)]
    missing = cli("event", "import", "/nonexistent/e.jsonl")
    assert missing.exit_code == 1 and missing.stderr.count("\n") == 1


_line = st.one_of(
    hostile_text(120),
    st.sampled_from(SAMPLES[:-2]),
    st.builds(
        lambda t, d, s, ts: json.dumps({"type": t, "data": d, "source": s, "ts": ts}),
        st.one_of(st.sampled_from(["custom", "deploy.failed", "x.y"]), hostile_text(20)),
        hostile_data(),
        st.one_of(st.just("cli"), hostile_text(20)),
        st.one_of(st.floats(), st.integers(), st.just(1.5)),
    ),
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(_line, min_size=1, max_size=6))
def test_hostile_lines_import_whole_or_not_at_all(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str]
) -> None:
    base = tmp_path_factory.mktemp("lines")
    cli = make_cli(base)
    file = base / "in.jsonl"
    file.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n")
    result = cli("event", "import", str(file))
    assert "Traceback" not in result.output
    assert not list(base.glob("logs/crash-*")), result.stderr  # no unexpected error
    assert not _RAW.search(result.stderr) and not _RAW.search(result.stdout)
    if result.exit_code == 0:
        assert result.stdout.startswith("imported ")
        return
    assert result.exit_code == 1, result.output
    assert all(x.startswith("error: line ") for x in result.stderr.splitlines())
    assert count(cli) == 0


# -- attached to a real daemon ------------------------------------------------------------


def test_import_into_a_running_serve(
    daemons: Callable[[Path | None], DaemonProcess], tmp_path: Path
) -> None:
    daemon = daemons(None).start("--no-monitor")
    home = str(daemon.home)
    file = tmp_path / "e.jsonl"
    file.write_text(json.dumps({"type": "custom", "data": {"n": 1}, "ts": 100}) + "\n")
    kept = run_cli("--home", home, "event", "import", str(file))
    assert kept.returncode == 1
    assert kept.stderr.count("\n") == 1 and "pass --as-new" in kept.stderr
    new = run_cli("--home", home, "event", "import", "--as-new", str(file))
    assert new.returncode == 0, new.stderr
    assert new.stdout.strip() == "dispatched 1 new events"

    def exported() -> list[dict[str, Any]]:
        out = run_cli("--home", home, "event", "export", "--filter", "type:custom")
        return [json.loads(x) for x in out.stdout.splitlines()]

    rows = wait_for(exported, what="the imported event in the daemon's store")
    assert [(r["data"], r["source"]) for r in rows] == [({"n": 1}, "cli")]


def test_deeply_nested_lines_are_one_line_errors(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "deep.jsonl"
    file.write_text(
        "[" * 200_000
        + "]" * 200_000
        + "\n"
        + '{"type": "custom", "data": '
        + '{"a": ' * 50_000
        + "1"
        + "}" * 50_001
        + "\n"
    )
    result = cli("event", "import", str(file))
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        "error: line 1: not an event: nests too deeply",
        "error: line 2: not an event: nests too deeply (2 bad lines: nothing imported)",
    ]
    assert not list(tmp_path.glob("home/logs/crash-*"))
