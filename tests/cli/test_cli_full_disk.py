"""Commands on a disk that is really full: a 4 MB tmpfs, filled to its last block, in a
mount namespace of the test's own (`unshare -m`; root, as CI is; skipped elsewhere).

A full disk is what servers meet. Each command that would write must say so in one
line and change nothing (the old file stays, no temporary file is left), reads must
go on working, `doctor` must name the cause, and once space returns every command works
again with nothing to repair (session 20: `secret set` left an empty key file that
refused every later one, and the engine lock's pid write stopped `emit` before the
store could say the disk was full).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

# Runs in the private namespace: mounts the disk, lays its files, runs the steps before,
# fills the disk, runs the steps on it, frees it, runs the steps after; prints what each
# step did, and the digest of every file in the watched trees while the disk was full.
DRIVER = textwrap.dedent(
    """
    import hashlib, json, os, subprocess, sys
    spec = json.loads(sys.argv[1])
    disk = spec["disk"]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", disk], check=True)
    for path, text in spec["files"].items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def run(step):
        name, argv, stdin = step
        done = subprocess.run(
            [sys.executable, "-m", "sloth_tui", *argv], input=stdin,
            capture_output=True, text=True, timeout=120,
        )
        return {"name": name, "rc": done.returncode, "out": done.stdout, "err": done.stderr}

    def files():
        seen = {}
        for top in spec["watched"]:
            for root, _dirs, names in os.walk(top):
                for name in names:
                    if name.startswith("sloth.db") or name.endswith(".lock"):
                        continue  # the store's own (a read may touch them), and locks
                    with open(os.path.join(root, name), "rb") as f:
                        seen[os.path.join(root, name)] = hashlib.sha256(f.read()).hexdigest()
        return seen

    out = {"before": [run(s) for s in spec["before"]]}
    fd = os.open(os.path.join(disk, "fill"), os.O_WRONLY | os.O_CREAT, 0o600)
    for size in (1 << 16, 4096, 512, 1):
        try:
            while True:
                os.write(fd, b"\\0" * size)
        except OSError:
            pass
    os.close(fd)
    st = os.statvfs(disk)
    out["free_when_full"] = st.f_bfree * st.f_frsize
    out["files_before"] = files()
    out["full"] = [run(s) for s in spec["full"]]
    out["files_full"] = files()
    os.unlink(os.path.join(disk, "fill"))
    out["after"] = [run(s) for s in spec["after"]]
    print(json.dumps(out))
    """
)

HOOK = 'function on_event(event)\n  log.info("seen")\n  return true\nend\n'
SECRET = "a-secret-value-1"


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not _can_unshare(), reason="needs a mount namespace of its own (root, as in CI)"
)

Step = tuple[str, list[str], str | None]  # a name, the arguments, stdin


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One full-disk episode for the module: a namespace, a mount and 32 commands."""
    disk = tmp_path_factory.mktemp("full-disk")
    home, fresh, export = str(disk / "home"), str(disk / "fresh"), str(disk / "export")
    hook, watched = str(disk / "hi.lua"), str(disk / "watched" / "keep")
    # Another disk (the mount hides only `disk`): a backup there needs no space here.
    elsewhere = str(tmp_path_factory.mktemp("other-disk") / "taken-while-full.db")

    def at(where: str, name: str, *argv: str, stdin: str | None = None) -> Step:
        return (name, ["--home", where, *argv], stdin)

    before: list[Step] = [
        at(home, "hook add", "hook", "add", "hi", "-e", "task.started", "-f", hook),
        at(home, "emit", "emit", "task.started", "task=a"),
        at(home, "schedule add", "schedule", "add", "nightly", "--cron", "0 2 * * *"),
        at(home, "hook export", "hook", "export", export),
        at(home, "watch add", "watch", "add", "w1", str(disk / "watched")),
        at(home, "secret set", "secret", "set", "TOKEN", stdin=SECRET),
        at(fresh, "a home with no key yet", "event", "list"),
    ]
    full: list[Step] = [
        at(home, "hook add", "hook", "add", "hi2", "-e", "task.failed", "-f", hook),
        at(home, "emit", "emit", "task.started", "task=b"),
        at(home, "schedule add", "schedule", "add", "n2", "--cron", "0 3 * * *"),
        at(home, "schedule disable", "schedule", "disable", "nightly"),
        at(home, "watch add", "watch", "add", "w2", str(disk / "watched")),
        at(home, "secret set", "secret", "set", "OTHER", stdin=SECRET),
        at(fresh, "secret set (new key)", "secret", "set", "TOKEN", stdin=SECRET),
        at(home, "hook export", "hook", "export", str(disk / "export2")),
        at(home, "backup", "backup"),
        at(home, "backup elsewhere", "backup", "--to", elsewhere),
        at(home, "event list", "event", "list", "--json"),
        at(home, "hook list", "hook", "list"),
        at(home, "schedule list", "schedule", "list"),
        at(home, "secret list", "secret", "list"),
        at(home, "doctor", "doctor"),
    ]
    after: list[Step] = [
        at(home, "emit", "emit", "task.started", "task=c"),
        at(home, "schedule add", "schedule", "add", "n2", "--cron", "0 3 * * *"),
        at(home, "secret set", "secret", "set", "OTHER", stdin=SECRET),
        at(fresh, "secret set (new key)", "secret", "set", "TOKEN", stdin=SECRET),
        at(home, "hook add", "hook", "add", "hi2", "-e", "task.failed", "-f", hook),
        at(home, "backup", "backup"),
        at(home, "event list", "event", "list", "--json"),
        at(home, "doctor", "doctor"),
    ]
    spec = {
        "disk": str(disk),
        "files": {hook: HOOK, watched: "a file to watch"},
        "watched": [home, fresh, export, str(disk / "export2")],
        "before": before,
        "full": full,
        "after": after,
    }
    script = disk.parent / f"{disk.name}-driver.py"  # beside the mount point, not under it
    script.write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        ["unshare", "-m", sys.executable, str(script), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    for phase in ("before", "full", "after"):
        result[phase] = {step["name"]: step for step in result[phase]}
    return result


def _said(step: dict[str, Any]) -> str:
    return f"{step['name']}: rc={step['rc']} out={step['out']!r} err={step['err']!r}"


READS = ("event list", "hook list", "schedule list", "secret list", "backup elsewhere", "doctor")


def test_the_disk_was_full(run: dict[str, Any]) -> None:
    assert run["free_when_full"] < 4096
    for step in run["before"].values():
        assert step["rc"] == 0, _said(step)


def test_each_write_is_refused_in_one_line_that_names_the_cause(run: dict[str, Any]) -> None:
    writes = [step for name, step in run["full"].items() if name not in READS]
    assert len(writes) == 9
    for step in writes:
        lines = step["err"].splitlines()
        assert step["rc"] == 1 and step["out"] == "" and len(lines) == 1, _said(step)
        line = lines[0]
        assert line.startswith("error: "), _said(step)
        said_full = ("is full", "No space left on device", "the disk has 0 bytes free")
        assert any(words in line for words in said_full), _said(step)
        assert "unexpected" not in line, _said(step)
    # Opening the store finds the disk full before emit can store anything (else its
    # insert does): either way it says what happened, not that some "change" was lost.
    emit = run["full"]["emit"]["err"]
    assert emit.endswith(("nothing can be written there\n", "the event was not stored\n")), emit


def test_nothing_was_changed_or_left_behind(run: dict[str, Any]) -> None:
    assert run["files_full"] == run["files_before"]
    assert not [path for path in run["files_full"] if path.endswith(".tmp")]


def test_reads_go_on_and_doctor_names_the_cause(run: dict[str, Any]) -> None:
    full = run["full"]
    for name in READS[:-1]:
        assert full[name]["rc"] == 0, _said(full[name])
        if name != "backup elsewhere":  # it says its backup.* events could not be stored
            assert full[name]["err"] == "", _said(full[name])
    events = json.loads(full["event list"]["out"])
    assert [e["data"].get("task") for e in events if e["type"] == "task.started"] == ["a"]
    assert "nightly" in full["schedule list"]["out"] and "TOKEN" in full["secret list"]["out"]
    taken = full["backup elsewhere"]
    assert "backed up 3 events" in taken["out"], _said(taken)
    assert taken["err"].startswith("warning: backup events not recorded: the disk holding")
    doctor = full["doctor"]
    assert doctor["rc"] == 1, _said(doctor)
    assert "problem  disk: the disk holding" in doctor["out"] and "is full" in doctor["out"]


def test_once_space_returns_everything_works_with_nothing_to_repair(run: dict[str, Any]) -> None:
    after = run["after"]
    for step in after.values():
        assert step["rc"] == 0, _said(step)
    events = json.loads(after["event list"]["out"])
    tasks = sorted(e["data"].get("task") for e in events if e["type"] == "task.started")
    assert tasks == ["a", "c"]  # b was refused, and said so
    assert "ok       disk:" in after["doctor"]["out"], _said(after["doctor"])
