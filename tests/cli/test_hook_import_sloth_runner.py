"""`hook import --from-sloth-runner`: a real upstream hooks.db (built with upstream's own
schema), real Lua files, the real CLI on a real home."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hostile import SAMPLES, hostile_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloth_tui.cli import main
from sloth_tui.sources.upstream_db import UPSTREAM_SCHEMA

# Upstream's style: a global `event`, `contains` and `log.info`, and task fields nested
# under data.task as upstream's dispatcher sends them.
GOOD = """\
function on_event()
  local task = event.task or event.data.task
  if contains({"task.failed", "task.timeout"}, event.type) then
    log.info("task " .. task.task_name .. " failed on " .. task.agent_name)
  end
  return true
end
"""
SYNTAX = """\
function on_event()
  local x = = 1
  return true
end
"""
# Writes an audit line, as upstream's examples do: in a dry run nothing may be written.
FILE_OPS = """\
function on_event()
  local ok, err = file_ops.lineinfile({path = "{AUDIT}", line = "agent " ..
    event.data.agent.name, create = true})
  if not ok then error(err) end
  return true
end
"""
UPSTREAM_MODULE = """\
function on_event()
  pkg.install("nginx")
  return true
end
"""
HERE = 'function on_event() log.info("the hook already here") return true end\n'

_RAW = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


@dataclass
class UpHook:
    name: str
    event_type: str
    file_path: str
    description: str = ""
    stack: str | None = None
    enabled: bool = True


def build_db(path: Path, hooks: list[UpHook]) -> Path:
    """A hooks.db as upstream's repository writes it."""
    conn = sqlite3.connect(path)
    conn.executescript(UPSTREAM_SCHEMA)
    for h in hooks:
        conn.execute(
            "INSERT INTO hooks (id, name, description, event_type, file_path, stack, enabled,"
            " created_at, updated_at, run_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (
                str(uuid.uuid4()),
                h.name,
                h.description,
                h.event_type,
                h.file_path,
                h.stack,
                int(h.enabled),
                1_764_000_000,
                1_764_000_000,
            ),
        )
    conn.commit()
    conn.close()
    return path


Cli = Callable[..., Result]


@pytest.fixture
def cli(home: Path) -> Cli:
    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(main, ["--home", str(home), "--embedded", *args], env=env)

    return invoke


@dataclass
class Upstream:
    dir: Path
    db: Path
    files: dict[str, Path]
    audit: Path


@pytest.fixture
def upstream(tmp_path: Path, cli: Cli) -> Upstream:
    """Upstream's data dir with the mix of the brief, and `taken` already registered here."""
    up = tmp_path / "sloth-runner"
    up.mkdir()
    audit = tmp_path / "audit" / "agent-events.log"  # under the system temp dir: a file root
    files = {
        "good": GOOD,
        "syntax": SYNTAX,
        "fileops": FILE_OPS.replace("{AUDIT}", str(audit)),
        "module": UPSTREAM_MODULE,
        "taken": GOOD,
    }
    paths = {}
    for name, code in files.items():
        paths[name] = up / f"{name}.lua"
        paths[name].write_text(code)
    here = tmp_path / "here.lua"
    here.write_text(HERE)
    added = cli("hook", "add", "taken", "-f", str(here), "-e", "deploy.failed", "-d", "mine")
    assert added.exit_code == 0, added.output
    db = build_db(
        up / "hooks.db",
        [
            UpHook("good", "task.failed", str(paths["good"]), "Alert on task failures", "prod"),
            UpHook("syntax", "deploy.failed", str(paths["syntax"]), "broken"),
            UpHook("gone", "deploy.failed", str(up / "deleted.lua"), "its file is gone"),
            UpHook("typo", "deploy.faild", str(paths["good"]), "unknown type"),
            UpHook("fileops", "agent.registered", str(paths["fileops"]), "audit", None, False),
            UpHook("module", "process.started", str(paths["module"]), "needs pkg"),
            UpHook("taken", "task.failed", str(paths["taken"]), "upstream's taken"),
        ],
    )
    return Upstream(up, db, paths, audit)


def rows_of(out: str) -> dict[str, dict[str, str]]:
    """The table, by hook name: {name: {event, stack, enabled, verdict, why}}."""
    lines = out.splitlines()
    header = lines[0]
    cols = ["NAME", "EVENT", "STACK", "ENABLED", "VERDICT", "WHY"]
    assert header.split() == cols, header
    starts = [header.index(c) for c in cols]
    rows = {}
    for line in lines[1:-1]:  # the last line is the summary
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], len(line)], strict=True)]
        rows[cells[0]] = dict(zip([c.lower() for c in cols[1:]], cells[1:], strict=True))
    return rows


def snapshot(paths: list[Path]) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}


def registry(cli: Cli) -> dict[str, dict[str, object]]:
    result = cli("hook", "list", "--json")
    assert result.exit_code == 0, result.output
    return {h["name"]: h for h in json.loads(result.stdout)}


EXPECTED_VERDICTS = {
    "good": "will run",
    "syntax": "will not run",
    "gone": "will not run",
    "typo": "will not run",
    "fileops": "will run",
    "module": "will not run",
    "taken": "will run",
}


def test_dry_run_checks_everything_and_changes_nothing(
    cli: Cli, upstream: Upstream, home: Path
) -> None:
    untouched = snapshot([upstream.db, *upstream.files.values()])
    before = registry(cli)

    result = cli("hook", "import", "--from-sloth-runner", "--db", str(upstream.db), "--dry-run")

    assert result.exit_code == 1, result.output  # some hooks will not run
    rows = rows_of(result.stdout)
    assert {n: r["verdict"] for n, r in rows.items()} == EXPECTED_VERDICTS
    assert rows["good"] == {
        "event": "task.failed",
        "stack": "prod",
        "enabled": "true",
        "verdict": "will run",
        "why": "would be imported",
    }
    assert rows["syntax"]["why"].startswith("compile error line 2: ")
    assert rows["gone"]["why"] == f"missing file: {upstream.dir / 'deleted.lua'}"
    assert rows["typo"]["why"].startswith("unknown event type 'deploy.faild'")
    assert "deploy.failed" in rows["typo"]["why"]  # the likely meant type
    assert rows["fileops"]["enabled"] == "false"
    assert rows["module"]["why"] == (
        "dry run error line 2: global 'pkg' does not exist here "
        "(an upstream module sloth-tui lacks?)"
    )
    assert rows["taken"]["why"] == "exists here: skipped (--replace replaces it)"
    assert "7 hooks in" in result.stdout.splitlines()[-1]
    assert "dry run: nothing imported" in result.stdout.splitlines()[-1]

    # Nothing registered, nothing copied, nothing written by file_ops, upstream untouched.
    assert registry(cli) == before
    assert not (home / "hooks" / "sloth-runner").exists()
    assert not upstream.audit.exists() and not upstream.audit.parent.exists()
    assert snapshot([upstream.db, *upstream.files.values()]) == untouched


def test_real_import_registers_copies_and_keeps_what_is_here(
    cli: Cli, upstream: Upstream, home: Path
) -> None:
    untouched = snapshot([upstream.db, *upstream.files.values()])
    taken_before = registry(cli)["taken"]

    result = cli("hook", "import", "--from-sloth-runner", "--db", str(upstream.db))

    assert result.exit_code == 1, result.output
    rows = rows_of(result.stdout)
    assert {n: r["verdict"] for n, r in rows.items()} == EXPECTED_VERDICTS
    assert rows["good"]["why"] == "imported"
    assert rows["fileops"]["why"] == "imported"
    assert rows["taken"]["why"] == "exists here: skipped (--replace replaces it)"
    assert "2 imported, 1 exists here, 4 will not run" in result.stdout.splitlines()[-1]

    hooks = registry(cli)
    assert set(hooks) == {"good", "fileops", "taken"}
    good, fileops = hooks["good"], hooks["fileops"]
    assert good["events"] == ["task.failed"]
    assert good["stack"] == "prod" and good["enabled"] is True
    assert good["description"] == "Alert on task failures"
    assert fileops["enabled"] is False and fileops["stack"] is None
    assert hooks["taken"] == taken_before  # skipped: not touched
    # Copies of exactly the bytes checked, private, in the hooks dir.
    copies = home / "hooks" / "sloth-runner"
    for name in ("good", "fileops"):
        copy = Path(str(hooks[name]["file"]))
        assert copy == (copies / f"{name}.lua").resolve()
        assert copy.read_bytes() == upstream.files[name].read_bytes()
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert sorted(p.name for p in copies.iterdir()) == ["fileops.lua", "good.lua"]
    assert not upstream.audit.exists()  # the dry run wrote nothing
    assert snapshot([upstream.db, *upstream.files.values()]) == untouched

    # The imported hook runs here, on upstream's shape of a task.failed event.
    test = cli("hook", "test", "good", "-d", '{"task": {"task_name": "t", "agent_name": "a"}}')
    assert test.exit_code == 0, test.output
    assert "task t failed on a" in test.stdout


def test_json_rows_and_a_second_import(cli: Cli, upstream: Upstream) -> None:
    first = cli("hook", "import", "--from-sloth-runner", "--db", str(upstream.db), "--json")
    assert first.exit_code == 1
    rows = {r["name"]: r for r in json.loads(first.stdout)}
    assert {n: r["verdict"] for n, r in rows.items()} == EXPECTED_VERDICTS
    good = rows["good"]
    assert good["action"] == "imported" and good["dry_run_status"] == "success"
    assert good["file_path"] == str(upstream.files["good"])
    assert good["file"] and Path(good["file"]).name == "good.lua"
    assert good["description"] == "Alert on task failures"
    assert rows["gone"]["action"] == "not imported" and rows["gone"]["file"] is None
    assert rows["taken"]["action"] == "exists here"

    # Again: what was imported is now here, and nothing else changes.
    again = cli("hook", "import", "--from-sloth-runner", "--db", str(upstream.db), "--json")
    actions = {r["name"]: r["action"] for r in json.loads(again.stdout)}
    assert actions["good"] == actions["fileops"] == actions["taken"] == "exists here"
    assert again.exit_code == 1  # the broken ones still will not run


def test_replace_takes_upstreams_version(cli: Cli, upstream: Upstream, home: Path) -> None:
    result = cli(
        "hook", "import", "--from-sloth-runner", "--db", str(upstream.db), "--replace", "--json"
    )
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["taken"]["action"] == "replaced"
    taken = registry(cli)["taken"]
    assert taken["description"] == "upstream's taken"
    assert taken["events"] == ["task.failed"]
    assert Path(str(taken["file"])).read_bytes() == upstream.files["taken"].read_bytes()
    # The hook's own file from before is left as it was.
    assert (home.parent / "here.lua").read_text() == HERE


def test_all_good_exits_zero_and_upstream_edits_do_not_leak_in(
    cli: Cli, tmp_path: Path, home: Path
) -> None:
    lua = tmp_path / "alert.lua"
    lua.write_text(GOOD)
    db = build_db(tmp_path / "hooks.db", [UpHook("alert", "task.failed", str(lua), "x")])

    first = cli("hook", "import", "--from-sloth-runner", "--db", str(tmp_path))  # a data dir
    assert first.exit_code == 0, first.output
    assert rows_of(first.stdout)["alert"]["why"] == "imported"
    again = cli("hook", "import", "--from-sloth-runner", "--db", str(db))
    assert again.exit_code == 0, again.output  # already here counts as done
    assert rows_of(again.stdout)["alert"]["why"].startswith("exists here")

    # Upstream breaks its file, then deletes it: the hook here runs the checked copy.
    task = '{"task": {"task_name": "t", "agent_name": "a"}}'  # upstream's shape
    lua.write_text(SYNTAX)
    assert cli("hook", "test", "alert", "-d", task).exit_code == 0
    lua.unlink()
    test = cli("hook", "test", "alert", "-d", task, "--json")
    assert test.exit_code == 0, test.output
    assert json.loads(test.stdout)["status"] == "success"


def test_a_copy_never_overwrites_a_file_already_in_the_hooks_dir(
    cli: Cli, tmp_path: Path, home: Path
) -> None:
    """A hook deleted here keeps its file; a later import of other code takes a new name."""
    folder = home / "hooks" / "sloth-runner"
    folder.mkdir(parents=True)
    (folder / "alert.lua").write_text("-- someone's file\n")
    lua = tmp_path / "alert.lua"
    lua.write_text(GOOD)
    build_db(tmp_path / "hooks.db", [UpHook("alert", "task.failed", str(lua))])

    result = cli("hook", "import", "--from-sloth-runner", "--db", str(tmp_path))

    assert result.exit_code == 0, result.output
    assert (folder / "alert.lua").read_text() == "-- someone's file\n"
    assert Path(str(registry(cli)["alert"]["file"])) == (folder / "alert-2.lua").resolve()
    assert (folder / "alert-2.lua").read_text() == GOOD


def test_found_through_sloth_runner_data_dir(cli: Cli, upstream: Upstream) -> None:
    result = cli(
        "hook",
        "import",
        "--from-sloth-runner",
        "--dry-run",
        env={"SLOTH_RUNNER_DATA_DIR": str(upstream.dir)},
    )
    assert result.exit_code == 1, result.output
    assert set(rows_of(result.stdout)) == set(EXPECTED_VERDICTS)
    assert f"7 hooks in {upstream.db}" in result.stdout


def test_no_hooks_db_is_one_line(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    result = cli("hook", "import", "--from-sloth-runner", env={"SLOTH_RUNNER_DATA_DIR": str(empty)})
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: No Sloth Runner hooks.db found")
    assert str(empty / "hooks.db") in result.stderr and "--db PATH" in result.stderr


def test_a_corrupt_hooks_db_is_one_line(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "hooks.db"
    bad.write_bytes(b"this is not SQLite at all\n" * 200)
    result = cli("hook", "import", "--from-sloth-runner", "--db", str(bad))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "not a readable SQLite database" in result.stderr
    assert "Traceback" not in result.output


def test_a_hooks_table_of_another_shape_names_the_file(cli: Cli, tmp_path: Path) -> None:
    other = tmp_path / "hooks.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE hooks (name TEXT)")  # a hooks table, not upstream's
    conn.commit()
    conn.close()
    result = cli("hook", "import", "--from-sloth-runner", "--db", str(other))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: {other}: ")


def test_a_relative_file_path_is_not_guessed(cli: Cli, tmp_path: Path) -> None:
    """Upstream stores absolute paths; a relative one would be read from wherever the
    command happens to run."""
    (tmp_path / "alert.lua").write_text(GOOD)
    build_db(tmp_path / "hooks.db", [UpHook("alert", "task.failed", "alert.lua")])
    result = cli("hook", "import", "--from-sloth-runner", "--db", str(tmp_path))
    assert result.exit_code == 1
    assert rows_of(result.stdout)["alert"]["why"] == "file path is not absolute: alert.lua"


def test_without_a_source_it_says_what_to_pass(cli: Cli) -> None:
    result = cli("hook", "import")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "--from-sloth-runner" in result.stderr
    help_text = " ".join(cli("hook", "import", "--help").stdout.split())
    assert "Exits 0 when every hook was imported" in help_text
    assert "1 when any hook will not run" in help_text


def _storable(text: str) -> str:
    """SQLite text is UTF-8: a lone surrogate cannot be stored, so it becomes U+FFFD."""
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


_hostile = st.one_of(hostile_text(60), st.sampled_from(SAMPLES)).map(_storable)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    names=st.lists(_hostile, min_size=1, max_size=4, unique=True),
    descriptions=st.lists(_hostile, min_size=4, max_size=4),
    paths=st.lists(_hostile, min_size=4, max_size=4),
)
def test_hostile_hooks_come_out_escaped_one_row_each(
    tmp_path_factory: pytest.TempPathFactory,
    names: list[str],
    descriptions: list[str],
    paths: list[str],
) -> None:
    check_hostile(tmp_path_factory.mktemp("hostile-import"), names, descriptions, paths)


def test_every_hostile_sample_at_once(tmp_path: Path) -> None:
    """Each fixed nasty (NUL, escapes, bidi, 100 KB) as a name, a description and a path,
    then a real import of the valid ones."""
    samples = list(dict.fromkeys(_storable(s) for s in SAMPLES))
    home = check_hostile(tmp_path, samples, samples[::-1], samples)
    result = CliRunner().invoke(
        main,
        [
            "--home",
            str(home),
            "--embedded",
            "hook",
            "import",
            "--from-sloth-runner",
            "--db",
            str(tmp_path),
        ],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert not _RAW.search(result.output)
    listed = CliRunner().invoke(main, ["--home", str(home), "--embedded", "hook", "list", "--json"])
    hooks = {h["name"]: h for h in json.loads(listed.stdout)}
    assert set(hooks) == {"ok-name", "ok-path"}
    assert hooks["ok-name"]["description"] == samples[-1]  # stored exactly


def check_hostile(base: Path, names: list[str], descriptions: list[str], paths: list[str]) -> Path:
    """Import hostile hooks in a dry run: every row escaped, one line each, JSON exact.
    Returns the home used."""
    good = base / "ok.lua"
    good.write_text(GOOD)
    # A file that exists under a hostile name: its name is the chunk name Lua reports.
    odd = base / ("h-" + re.sub(r"[/\x00]", "_", paths[0])[:60])
    odd.write_text(GOOD)
    hooks = [
        UpHook(n, "task.failed", p, d) for n, d, p in zip(names, descriptions, paths, strict=False)
    ]
    # Valid names with hostile descriptions and paths, and a hostile path that exists.
    hooks.append(UpHook("ok-name", "task.failed", str(good), descriptions[0]))
    hooks.append(UpHook("ok-path", "custom", str(odd), descriptions[-1]))
    # Valid names, so the hostile paths get looked at (a bad name stops the checks first).
    hooks += [UpHook(f"path-{i}", "deploy.failed", p) for i, p in enumerate(paths)]
    hooks += [UpHook(f"abs-{i}", "deploy.failed", f"/{p}") for i, p in enumerate(paths)]
    hooks = list({h.name: h for h in hooks}.values())
    build_db(base / "hooks.db", hooks)
    home = base / "home"
    home.mkdir()

    def cli(*args: str) -> Result:
        return CliRunner().invoke(main, ["--home", str(home), "--embedded", *args])

    table = cli("hook", "import", "--from-sloth-runner", "--db", str(base), "--dry-run")
    assert table.exception is None or isinstance(table.exception, SystemExit), table.exception
    assert table.exit_code in (0, 1), table.output
    assert not _RAW.search(table.output), table.output[:2000]
    lines = table.stdout.splitlines()
    assert len(lines) == 1 + len(hooks) + 1  # header, one row per hook, summary
    order = sorted(h.name for h in hooks)
    for name in ("ok-name", "ok-path"):
        assert lines[1 + order.index(name)].startswith(name + " ")
        assert "will run" in lines[1 + order.index(name)]

    as_json = cli("hook", "import", "--from-sloth-runner", "--db", str(base), "--dry-run", "--json")
    rows = json.loads(as_json.stdout)
    assert [r["name"] for r in rows] == order
    by_name = {h.name: h for h in hooks}
    for r in rows:  # JSON gives the text back exactly; WHY is one short line
        assert r["description"] == by_name[r["name"]].description
        assert r["file_path"] == by_name[r["name"]].file_path
        assert not _RAW.search(r["why"]) and len(r["why"]) < 400
    assert not (home / "hooks" / "sloth-runner").exists()
    return home
