"""`hook export DIR` and `hook import DIR`: hooks as code. Real homes, real engines (the
CLI over --home, embedded), real files; one test attached to a real `serve`."""

from __future__ import annotations

import asyncio
import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import tomli_w
from click.testing import CliRunner, Result
from hostile import SAMPLES, hostile_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sourcekit import DaemonProcess, run_cli

from sloth_tui.cli import main
from sloth_tui.config import load_settings
from sloth_tui.engine.engine import Engine

GOOD = 'function on_event()\n  log.info("hello " .. event.type)\n  return true\nend\n'
OTHER = 'function on_event()\n  log.info("changed")\n  return true\nend\n'
SYNTAX = "function on_event()\n  local x = = 1\nend\n"
# Raw control characters (a newline is fine: it ends a line) must never reach stderr.
_RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e]")

Cli = Callable[..., Result]


def make_cli(home: Path) -> Cli:
    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, ["--home", str(home), "--embedded", *args], input=input)

    return invoke


@pytest.fixture
def cli(home: Path) -> Cli:
    return make_cli(home)


@pytest.fixture
def code(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "good.lua"
    path.parent.mkdir()
    path.write_text(GOOD)
    return path


def registry(cli: Cli) -> dict[str, dict[str, object]]:
    """The hooks as `hook list --json` gives them, minus what an import may not keep."""
    result = cli("hook", "list", "--json")
    assert result.exit_code == 0, result.output
    out = {}
    for h in json.loads(result.stdout):
        for key in ("created", "run_count", "last_run"):
            h.pop(key, None)
        out[h["name"]] = h
    return out


def add_sample_hooks(cli: Cli, code: Path) -> None:
    ok = [
        cli("hook", "add", "deploy-alert", "-f", str(code), "-e", "deploy.failed", "-e",
            "deploy.rollback", "-d", "pages the on-call", "--mode", "single", "--key",
            "data.service", "--retry", "2", "--dedupe", "10m", "--when", "env=prod"),
        cli("hook", "add", "audit.v2", "-f", str(code), "-e", "*", "--disabled", "--timeout",
            "5", "--max-instructions", "50000", "--max-memory-mb", "16", "-s", "prod"),
        cli("hook", "add", "Quiet", "-f", str(code), "-e", "task.*"),
    ]  # fmt: skip
    for r in ok:
        assert r.exit_code == 0, r.output


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# -- export ---------------------------------------------------------------------------------


def test_export_writes_one_lua_per_hook_and_a_stable_hooks_toml(
    cli: Cli, code: Path, tmp_path: Path
) -> None:
    add_sample_hooks(cli, code)
    out = tmp_path / "repo" / "hooks"  # created, parents too
    result = cli("hook", "export", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"exported 3 hooks to {out}: 4 files written, 0 unchanged"
    files = files_of(out)
    assert sorted(files) == ["Quiet.lua", "audit.v2.lua", "deploy-alert.lua", "hooks.toml"]
    assert files["deploy-alert.lua"] == GOOD.encode()
    doc = tomllib.loads(files["hooks.toml"].decode())
    assert list(doc["hooks"]) == ["Quiet", "audit.v2", "deploy-alert"]  # sorted
    assert doc["hooks"]["deploy-alert"] == {
        "file": "deploy-alert.lua",
        "events": ["deploy.failed", "deploy.rollback"],
        "description": "pages the on-call",
        "enabled": True,
        "timeout": 10.0,
        "policy": {
            "when": "env=prod",
            "mode": "single",
            "key": "data.service",
            "retry": {"attempts": 2, "delay": 1.0, "backoff": 2.0, "on_failed": False},
            "dedupe": 600.0,
        },
    }
    assert doc["hooks"]["audit.v2"] == {
        "file": "audit.v2.lua",
        "events": ["*"],
        "enabled": False,
        "timeout": 5.0,
        "max_instructions": 50000,
        "max_memory_mb": 16,
        "stack": "prod",
    }
    # Nothing of this machine or moment: no paths, no counts, no times.
    text = files["hooks.toml"].decode()
    assert str(tmp_path) not in text and "run_count" not in text and "created" not in text
    # A second export: the same bytes, and no file rewritten.
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = cli("hook", "export", str(out))
    assert again.stdout.strip() == f"exported 3 hooks to {out}: 0 files written, 4 unchanged"
    assert files_of(out) == files
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes


def test_export_leaves_unrelated_files_replaces_its_own_and_drops_a_gone_hooks_file(
    cli: Cli, code: Path, tmp_path: Path
) -> None:
    add_sample_hooks(cli, code)
    out = tmp_path / "hooks"
    out.mkdir()
    (out / "README.md").write_text("ours\n")
    (out / "notes.lua").write_text("-- not a hook\n")
    (out / "Quiet.lua").write_text("-- an older version\n")
    assert cli("hook", "export", str(out)).exit_code == 0
    assert (out / "README.md").read_text() == "ours\n"
    assert (out / "notes.lua").read_text() == "-- not a hook\n"
    assert (out / "Quiet.lua").read_text() == GOOD  # the export's file: replaced
    assert not list(out.glob(".*.tmp"))  # no temporary file left behind
    assert cli("hook", "delete", "--force", "Quiet").exit_code == 0
    result = cli("hook", "export", str(out))
    assert result.exit_code == 0, result.output
    assert "1 removed" in result.stdout
    assert not (out / "Quiet.lua").exists()  # its hook is gone, and the export named it
    assert (out / "notes.lua").exists()  # never named by an export: not ours to remove


def test_file_names_that_differ_only_in_case_do_not_collide(
    cli: Cli, code: Path, tmp_path: Path
) -> None:
    for name in ("alert", "Alert", "ALERT"):
        assert cli("hook", "add", name, "-f", str(code), "-e", "deploy.failed").exit_code == 0
    out = tmp_path / "hooks"
    assert cli("hook", "export", str(out)).exit_code == 0
    doc = tomllib.loads((out / "hooks.toml").read_text())
    assert {n: h["file"] for n, h in doc["hooks"].items()} == {
        "ALERT": "ALERT.lua",
        "Alert": "Alert-2.lua",
        "alert": "alert-3.lua",
    }
    assert len({f.casefold() for f in files_of(out)}) == 4


def test_export_refuses_whole_when_a_hooks_code_cannot_be_read(
    cli: Cli, code: Path, tmp_path: Path
) -> None:
    add_sample_hooks(cli, code)
    code.unlink()
    out = tmp_path / "hooks"
    result = cli("hook", "export", str(out))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 3 and all(x.startswith("error: hook ") for x in lines), lines
    assert "no such file" in lines[0] and lines[-1].endswith("(nothing written)")
    assert not out.exists()


# -- import ---------------------------------------------------------------------------------


def test_round_trip_into_another_home_then_nothing_to_change(
    cli: Cli, code: Path, tmp_path: Path
) -> None:
    add_sample_hooks(cli, code)
    out = tmp_path / "hooks"
    assert cli("hook", "export", str(out)).exit_code == 0
    other_home = tmp_path / "other"
    other_home.mkdir()
    other = make_cli(other_home)

    dry = other("hook", "import", str(out), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines() == [
        "add Quiet",
        "add audit.v2",
        "add deploy-alert",
        f"{out}: 3 to add (dry run: nothing changed)",
    ]
    assert registry(other) == {}

    real = other("hook", "import", str(out))
    assert real.exit_code == 0, real.output
    assert real.stdout.splitlines()[-1] == f"{out}: 3 added"
    mine, theirs = registry(cli), registry(other)
    for hooks in (mine, theirs):
        for h in hooks.values():
            h.pop("file")
    assert theirs == mine  # every setting and policy came across

    again = other("hook", "import", str(out))
    assert again.exit_code == 0
    assert again.stdout.splitlines() == [f"{out}: 3 unchanged: nothing to change"]
    back = tmp_path / "back"
    assert other("hook", "export", str(back)).exit_code == 0
    assert files_of(back) == files_of(out)  # byte for byte


def test_code_is_copied_into_the_hooks_dir_not_referenced(
    cli: Cli, code: Path, tmp_path: Path, home: Path
) -> None:
    out = tmp_path / "hooks"
    add_sample_hooks(cli, code)
    assert cli("hook", "export", str(out)).exit_code == 0
    other_home = tmp_path / "other"
    other_home.mkdir()
    other = make_cli(other_home)
    assert other("hook", "import", str(out)).exit_code == 0
    first = Path(str(registry(other)["Quiet"]["file"]))
    assert first.parent == other_home / "hooks" / "imported"
    assert first.read_text() == GOOD
    (out / "Quiet.lua").write_text(OTHER)  # an edit in the checkout ...
    assert first.read_text() == GOOD  # ... changes nothing that runs
    plan = other("hook", "import", str(out), "--dry-run")
    assert plan.stdout.splitlines()[0] == "change Quiet: code"
    assert other("hook", "import", str(out)).exit_code == 0
    second = Path(str(registry(other)["Quiet"]["file"]))
    assert second != first and second.read_text() == OTHER
    assert first.read_text() == GOOD  # the old copy was not rewritten under a running hook


def test_plan_names_each_change_and_prune_removes(cli: Cli, code: Path, tmp_path: Path) -> None:
    add_sample_hooks(cli, code)
    out = tmp_path / "hooks"
    assert cli("hook", "export", str(out)).exit_code == 0
    doc = tomllib.loads((out / "hooks.toml").read_text())
    hooks = doc["hooks"]
    hooks["deploy-alert"]["events"] = ["deploy.failed"]
    hooks["deploy-alert"]["policy"]["mode"] = "queued"
    del hooks["deploy-alert"]["description"]
    del hooks["audit.v2"]["max_instructions"]  # back to the engine's default
    hooks["audit.v2"]["enabled"] = True
    del hooks["Quiet"]
    hooks["brand-new"] = {"file": "new.lua", "events": ["custom"]}
    (out / "new.lua").write_text(OTHER)
    (out / "deploy-alert.lua").write_text(OTHER)
    (out / "hooks.toml").write_text(tomli_w.dumps(doc))
    before = registry(cli)

    dry = cli("hook", "import", str(out), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines() == [
        "change audit.v2: enabled, max_instructions",
        "add brand-new",
        "change deploy-alert: events, description, policy, code",
        "keep Quiet: not in the folder (--prune removes it)",
        f"{out}: 1 to add, 2 to change, 1 kept (not in the folder) (dry run: nothing changed)",
    ]
    assert registry(cli) == before

    pruned = cli("hook", "import", str(out), "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert "remove Quiet" in pruned.stdout.splitlines()
    after = registry(cli)
    assert sorted(after) == ["audit.v2", "brand-new", "deploy-alert"]
    assert after["audit.v2"]["max_instructions"] is None and after["audit.v2"]["enabled"]
    assert after["deploy-alert"]["events"] == ["deploy.failed"]
    assert after["deploy-alert"]["description"] == ""
    assert after["deploy-alert"]["policy"]["mode"] == "queued"  # type: ignore[index]
    assert after["deploy-alert"]["policy"]["retry"]["attempts"] == 2  # type: ignore[index]
    assert Path(str(after["deploy-alert"]["file"])).read_text() == OTHER
    assert cli("hook", "import", str(out), "--prune").stdout.strip().endswith("nothing to change")


def _snapshot(cli: Cli, home: Path) -> tuple[object, list[str]]:
    return registry(cli), sorted(str(p) for p in (home / "hooks").rglob("*"))


BROKEN: dict[str, tuple[dict[str, str], list[str]]] = {
    "broken TOML": (
        {"hooks.toml": "[hooks.a\nevents = 1\n"},
        ["hooks.toml: not valid TOML: "],
    ),
    "one name twice, two spellings": (
        {
            "hooks.toml": '[hooks.a]\nevents = ["custom"]\n[hooks."a"]\nevents = ["custom"]\n',
            "a.lua": GOOD,
        },
        ["hooks.toml: not valid TOML: Cannot declare ('hooks', 'a') twice"],
    ),
    "one name as a dotted key and a table": (
        {"hooks.toml": 'hooks.a.events = ["custom"]\n[hooks.a]\nfile = "a.lua"\n', "a.lua": GOOD},
        ["hooks.toml: not valid TOML: Cannot declare ('hooks', 'a') twice"],
    ),
    "a syntax error, a missing file, and bad settings": (
        {
            "hooks.toml": (
                '[hooks.ok]\nevents = ["custom"]\n'
                '[hooks.bad]\nevents = ["custom"]\n'
                '[hooks.gone]\nevents = ["custom"]\n'
                '[hooks."no good"]\nevents = ["Deploy Failed"]\ntimeout = inf\nflavour = 1\n'
                'file = "../outside.lua"\n[hooks."no good".policy]\nmode = "sometimes"\n'
            ),
            "ok.lua": GOOD,
            "bad.lua": SYNTAX,
        },
        [
            "hooks.toml: hook 'gone': file 'gone.lua': no such file",
            "hooks.toml: hook 'no good': not a hook name",
            "hooks.toml: hook 'no good': unknown setting 'flavour'",
            "hooks.toml: hook 'no good': events: 'Deploy Failed' is not an event type",
            "hooks.toml: hook 'no good': timeout: seconds, more than 0 and at most 3600",
            "hooks.toml: hook 'no good': policy: mode: 'sometimes' is not a mode",
            "hooks.toml: hook 'no good': file: '../outside.lua' is not a path inside",
            "bad.lua line 2: does not compile: ",
        ],
    ),
    "no hooks.toml": ({"a.lua": GOOD}, ["hooks.toml: no such file"]),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_bad_folder_is_refused_before_anything_changes(
    cli: Cli, code: Path, tmp_path: Path, home: Path, case: str
) -> None:
    add_sample_hooks(cli, code)
    files, expected = BROKEN[case]
    out = tmp_path / "hooks"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text)
    before = _snapshot(cli, home)
    for flags in ((), ("--prune",), ("--dry-run",)):
        result = cli("hook", "import", str(out), *flags)
        assert result.exit_code == 1, result.output
        assert result.stdout == ""  # no plan: it stops at the checks
        lines = result.stderr.splitlines()
        assert len(lines) == len(expected), lines
        for line, want in zip(sorted(lines), sorted(expected), strict=True):
            assert line.startswith("error: ") and want in line, (line, want)
        assert lines[-1].endswith("(nothing changed)")
        assert _snapshot(cli, home) == before


def test_usage_errors(cli: Cli, tmp_path: Path) -> None:
    assert cli("hook", "import", str(tmp_path / "nowhere")).exit_code == 2
    both = cli("hook", "import", str(tmp_path), "--from-sloth-runner")
    assert both.exit_code == 2 and "two different imports" in both.stderr
    assert cli("hook", "import", "--prune").exit_code == 2
    bare = cli("hook", "import")
    assert bare.exit_code == 2 and "DIR" in bare.stderr and "--from-sloth-runner" in bare.stderr
    help_text = " ".join(cli("hook", "import", "--help").stdout.split())
    assert "--prune" in help_text and "nothing to change" in help_text


# -- hostile content --------------------------------------------------------------------------

_value = st.one_of(
    hostile_text(80),
    st.sampled_from(SAMPLES),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.lists(hostile_text(20), max_size=3),
    st.dictionaries(hostile_text(10), hostile_text(20), max_size=3),
)
_KEYS = ["events", "timeout", "policy", "file", "stack", "max_memory_mb", "enabled", "flavour"]
_entry = st.dictionaries(st.one_of(st.sampled_from(_KEYS), hostile_text(10)), _value, max_size=4)


@st.composite
def hooks_toml(draw: st.DrawFn) -> str:
    """A hooks.toml: hostile values in a well-formed table, hostile text, or deep nesting."""
    kind = draw(st.sampled_from(["structured", "text", "deep"]))
    if kind == "text":
        return draw(st.one_of(hostile_text(300), st.sampled_from(SAMPLES)))
    if kind == "deep":
        n = draw(st.sampled_from([100, 1000, 5000, 50_000]))
        return "a = " + "[" * n + "]" * n + "\n"
    name = draw(st.one_of(st.sampled_from(["a", "b.c"]), hostile_text(30)))
    try:
        return tomli_w.dumps({"hooks": {name: draw(_entry)}})
    except (TypeError, ValueError):  # a value TOML cannot hold (NaN in a list, say)
        return draw(hostile_text(100))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=hooks_toml())
def test_hostile_hooks_toml_gives_one_line_errors_and_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    base = tmp_path_factory.mktemp("hostile")
    (base / "home").mkdir()
    cli = make_cli(base / "home")
    out = base / "hooks"
    out.mkdir()
    (out / "hooks.toml").write_bytes(text.encode("utf-8", errors="surrogatepass"))
    (out / "a.lua").write_text(GOOD)
    result = cli("hook", "import", str(out))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert not list((base / "home").glob("logs/crash-*")), result.stderr  # no unexpected error
    if result.exit_code == 0:  # a valid folder after all (no hooks, or an `a` that holds)
        assert not _RAW.search(result.stdout)
        return
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr and not _RAW.search(result.stderr), repr(result.stderr)
    assert all(x.startswith("error: ") for x in result.stderr.splitlines())
    assert registry(cli) == {}


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(description=st.one_of(hostile_text(200), st.sampled_from(SAMPLES[:-2])))
def test_hostile_descriptions_round_trip_exactly(
    tmp_path_factory: pytest.TempPathFactory, description: str
) -> None:
    description = description.encode("utf-8", "replace").decode()  # a store holds UTF-8
    base = tmp_path_factory.mktemp("rt")
    (base / "a").mkdir()
    (base / "b").mkdir()
    (base / "h.lua").write_text(GOOD)
    one, two = make_cli(base / "a"), make_cli(base / "b")

    async def add() -> None:  # the engine's door: a NUL can come in (socket, editor), not argv
        engine = await Engine.open(load_settings(base / "a"))
        try:
            await engine.add_hook("h", ["custom"], base / "h.lua", description=description)
        finally:
            await engine.close()

    asyncio.run(add())
    assert one("hook", "export", str(base / "out")).exit_code == 0
    imported = two("hook", "import", str(base / "out"))
    assert imported.exit_code == 0, imported.output
    assert not _RAW.search(imported.stdout)
    assert registry(two)["h"]["description"] == description


# -- attached to a real daemon -------------------------------------------------------------


def test_import_and_export_attached_to_a_running_serve(
    daemons: Callable[[Path | None], DaemonProcess], tmp_path: Path, code: Path
) -> None:
    daemon = daemons(None).start("--no-monitor")
    home = str(daemon.home)
    added = run_cli("--home", home, "hook", "add", "limited", "-f", str(code), "-e", "custom",
                    "--max-instructions", "5000", "--max-memory-mb", "8")  # fmt: skip
    assert added.returncode == 0, added.stderr
    out = tmp_path / "hooks"
    exported = run_cli("--home", home, "hook", "export", str(out))
    assert exported.returncode == 0, exported.stderr
    doc = tomllib.loads((out / "hooks.toml").read_text())
    del doc["hooks"]["limited"]["max_instructions"]  # null over the socket: the default
    del doc["hooks"]["limited"]["max_memory_mb"]
    doc["hooks"]["second"] = {"events": ["deploy.*"], "policy": {"throttle": {"count": 5,
                              "window": 60}}}  # fmt: skip
    (out / "hooks.toml").write_text(tomli_w.dumps(doc))
    (out / "second.lua").write_text(OTHER)
    imported = run_cli("--home", home, "hook", "import", str(out))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.splitlines()[:2] == [
        "change limited: max_instructions, max_memory_mb",
        "add second",
    ]
    listed = run_cli("--home", home, "hook", "list", "--json")
    hooks = {h["name"]: h for h in json.loads(listed.stdout)}
    assert hooks["limited"]["max_instructions"] is None
    assert hooks["limited"]["max_memory_mb"] is None
    assert hooks["second"]["policy"] == {"throttle": {"count": 5, "window": 60.0}}
    assert Path(hooks["second"]["file"]).parent == daemon.home / "hooks" / "imported"
    # The daemon runs the imported hook.
    fired = run_cli("--home", home, "event", "dispatch", "deploy.failed", "--json")
    assert fired.returncode == 0, fired.stderr
    runs = json.loads(fired.stdout)["executions"]
    assert [(r["hook"], r["status"]) for r in runs] == [("second", "success")]
    again = run_cli("--home", home, "hook", "import", str(out))
    assert again.returncode == 0 and again.stdout.strip().endswith("nothing to change")


def test_the_readme_example_imports_as_written(cli: Cli, tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- section:hooks-as-code -->", 1)[1]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    out = tmp_path / "ops-hooks"
    out.mkdir()
    (out / "hooks.toml").write_text(block)
    (out / "deploy-alert.lua").write_text(GOOD)
    result = cli("hook", "import", str(out))
    assert result.exit_code == 0, result.output
    hook = registry(cli)["deploy-alert"]
    assert hook["policy"] == {"mode": "single", "key": "data.service", "dedupe": 600.0}


def test_json_plan(cli: Cli, code: Path, tmp_path: Path) -> None:
    add_sample_hooks(cli, code)
    out = tmp_path / "hooks"
    assert cli("hook", "export", str(out)).exit_code == 0
    (out / "Quiet.lua").write_text(OTHER)
    result = cli("hook", "import", str(out), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "plan": [
            {"action": "change", "name": "Quiet", "fields": ["code"]},
            {"action": "unchanged", "name": "audit.v2", "fields": []},
            {"action": "unchanged", "name": "deploy-alert", "fields": []},
        ],
        "applied": False,
    }
    applied = json.loads(cli("hook", "import", str(out), "--json").stdout)
    assert applied["applied"] is True
