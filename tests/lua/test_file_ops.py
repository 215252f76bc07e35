"""file_ops from a hook, on real files under a tmp file root: each function in a real
run (the file changes, `true, result` comes back, the call is recorded) and in a dry
run (nothing on disk changes, the call is recorded with what it would change)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from file_ops_support import Sandbox, make_sandbox

from sloth_tui.lua.modules import file_ops_text as text
from sloth_tui.lua.modules.base import HostError
from sloth_tui.model.records import Event, Hook


@pytest.fixture
def sb(tmp_path: Path, host: Any, make_hook: Callable[..., Hook], deploy_event: Event) -> Sandbox:
    return make_sandbox(tmp_path, host, make_hook, deploy_event)


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


OK = "local ok, r = {call}\nreturn {{ok = ok, r = r}}"


# -- copy -------------------------------------------------------------------------


def test_copy_writes_dest_and_is_idempotent(sb: Sandbox) -> None:
    src = sb.root / "a.txt"
    src.write_text("hello\n")
    dest = sb.root / "sub" / "b.txt"
    body = (
        "local ok, r = file_ops.copy({src = src, dest = dest, mode = '0600'})\n"
        "local ok2, r2 = file_ops.copy({src = src, dest = dest})\n"
        "return {ok = ok, r = r, ok2 = ok2, r2 = r2}"
    )
    exe = sb.run(body, src=src, dest=dest)
    assert exe.status == "success", exe.error
    assert exe.result["ok"] is True
    assert exe.result["r"]["changed"] is True
    assert exe.result["r"]["size"] == 6
    assert exe.result["r2"]["changed"] is False
    assert dest.read_text() == "hello\n"
    assert dest.stat().st_mode & 0o777 == 0o600
    calls = sb.calls(exe, "file_ops.copy")
    assert [c["changed"] for c in calls] == [True, False]
    assert all(c["dry_run"] is False for c in calls)


def test_copy_in_a_dry_run_touches_nothing(sb: Sandbox) -> None:
    src = sb.root / "a.txt"
    src.write_text("hello\n")
    dest = sb.root / "sub" / "b.txt"
    before = snapshot(sb.root)
    exe = sb.run(
        OK.format(call="file_ops.copy({src = src, dest = dest})"), True, src=src, dest=dest
    )
    assert exe.status == "success", exe.error
    assert exe.result["ok"] is True
    assert exe.result["r"]["changed"] is True and exe.result["r"]["dry_run"] is True
    assert snapshot(sb.root) == before
    [call] = sb.calls(exe, "file_ops.copy")
    assert call["dry_run"] is True and call["changed"] is True


# -- fetch (upstream: a local copy, no identical-file check) ------------------------


def test_fetch_copies_every_time(sb: Sandbox) -> None:
    src = sb.root / "a.bin"
    src.write_bytes(b"\x00\x01")
    dest = sb.root / "got" / "a.bin"
    body = (
        "local _, r1 = file_ops.fetch({src = src, dest = dest})\n"
        "local ok, r2 = file_ops.fetch({src = src, dest = dest})\n"
        "return {ok = ok, c1 = r1.changed, c2 = r2.changed, size = r2.size}"
    )
    exe = sb.run(body, src=src, dest=dest)
    assert exe.status == "success", exe.error
    assert exe.result == {"ok": True, "c1": True, "c2": True, "size": 2}
    assert dest.read_bytes() == b"\x00\x01"
    assert len(sb.calls(exe, "file_ops.fetch")) == 2


def test_fetch_in_a_dry_run_touches_nothing(sb: Sandbox) -> None:
    src = sb.root / "a.bin"
    src.write_bytes(b"xy")
    dest = sb.root / "got.bin"
    before = snapshot(sb.root)
    exe = sb.run(
        OK.format(call="file_ops.fetch({src = src, dest = dest})"), True, src=src, dest=dest
    )
    assert exe.status == "success", exe.error
    assert exe.result["r"]["dry_run"] is True
    assert snapshot(sb.root) == before
    [call] = sb.calls(exe, "file_ops.fetch")
    assert call["dry_run"] is True and call["size"] == 2


# -- template ---------------------------------------------------------------------

TEMPLATE_CALL = (
    "file_ops.template({src = src, dest = dest, vars = {name = 'api', db = {port = 5432}}})"
)


def test_template_renders_keys_and_nested_keys(sb: Sandbox) -> None:
    src = sb.root / "t.tpl"
    src.write_text("service={{.name}}\nport={{ .db.port }}\nmissing={{.nope}}\n")
    dest = sb.root / "out.conf"
    exe = sb.run(OK.format(call=TEMPLATE_CALL), src=src, dest=dest)
    assert exe.status == "success", exe.error
    assert exe.result["ok"] is True and exe.result["r"]["changed"] is True
    assert dest.read_text() == "service=api\nport=5432\nmissing=<no value>\n"
    [call] = sb.calls(exe, "file_ops.template")
    assert "+service=api" in call["diff"]


def test_template_in_a_dry_run_records_the_diff(sb: Sandbox) -> None:
    src = sb.root / "t.tpl"
    src.write_text("service={{.name}}\n")
    dest = sb.root / "out.conf"
    dest.write_text("service=old\n")
    before = snapshot(sb.root)
    exe = sb.run(OK.format(call=TEMPLATE_CALL), True, src=src, dest=dest)
    assert exe.status == "success", exe.error
    assert snapshot(sb.root) == before
    [call] = sb.calls(exe, "file_ops.template")
    assert call["dry_run"] is True
    assert "-service=old\n" in call["diff"] and "+service=api\n" in call["diff"]


# -- lineinfile -------------------------------------------------------------------


def test_lineinfile_keeps_an_audit_log(sb: Sandbox) -> None:
    log = sb.root / "agent-events.log"
    body = (
        "for _, entry in ipairs({'one', 'two', 'one'}) do\n"
        "  local ok, err = file_ops.lineinfile({path = path, line = entry, create = true})\n"
        "  assert(ok, err)\n"
        "end\n"
        "local ok, r = file_ops.lineinfile({path = path, regexp = '^tw', line = 'TWO'})\n"
        "local _, gone = file_ops.lineinfile({path = path, line = 'one', state = 'absent'})\n"
        "return {ok = ok, r = r, gone = gone.changed}"
    )
    exe = sb.run(body, path=log)
    assert exe.status == "success", exe.error
    assert exe.result["ok"] is True and exe.result["r"]["changed"] is True
    assert exe.result["gone"] is True
    assert log.read_text() == "TWO"
    changed = [c["changed"] for c in sb.calls(exe, "file_ops.lineinfile")]
    assert changed == [True, True, False, True, True]


def test_lineinfile_in_a_dry_run_records_the_diff(sb: Sandbox) -> None:
    log = sb.root / "a.log"
    log.write_text("first\n")
    exe = sb.run(
        OK.format(call="file_ops.lineinfile({path = path, line = 'second'})"), True, path=log
    )
    assert exe.status == "success", exe.error
    assert exe.result["r"] == {"changed": True, "path": str(log), "dry_run": True}
    assert log.read_text() == "first\n"
    [call] = sb.calls(exe, "file_ops.lineinfile")
    assert call["dry_run"] is True and "+second\n" in call["diff"]


# -- blockinfile ------------------------------------------------------------------

BLOCK_CALL = "file_ops.blockinfile({path = path, block = 'a = 1\\nb = 2'})"


def test_blockinfile_inserts_then_replaces_then_removes(sb: Sandbox) -> None:
    conf = sb.root / "app.conf"
    conf.write_text("top\n")
    body = (
        f"local ok, r = {BLOCK_CALL}\n"
        "local _, r2 = file_ops.blockinfile({path = path, block = 'c = 3'})\n"
        "return {ok = ok, c1 = r.changed, c2 = r2.changed}"
    )
    exe = sb.run(body, path=conf)
    assert exe.status == "success", exe.error
    assert exe.result == {"ok": True, "c1": True, "c2": True}
    assert conf.read_text() == "top\n# BEGIN MANAGED BLOCK\nc = 3\n# END MANAGED BLOCK\n"
    exe = sb.run("return {file_ops.blockinfile({path = path, state = 'absent'})}", path=conf)
    assert exe.status == "success", exe.error
    assert conf.read_text() == "top\n"


def test_blockinfile_in_a_dry_run_records_the_diff(sb: Sandbox) -> None:
    conf = sb.root / "app.conf"
    conf.write_text("top\n")
    exe = sb.run(OK.format(call=BLOCK_CALL), True, path=conf)
    assert exe.status == "success", exe.error
    assert exe.result["r"]["dry_run"] is True
    assert conf.read_text() == "top\n"
    [call] = sb.calls(exe, "file_ops.blockinfile")
    assert "+# BEGIN MANAGED BLOCK\n+a = 1\n+b = 2\n+# END MANAGED BLOCK\n" in call["diff"]


# -- replace ----------------------------------------------------------------------

REPLACE_CALL = (
    "file_ops.replace({path = path, pattern = 'port=(\\\\d+)', replacement = 'port=${1}0'})"
)


def test_replace_rewrites_matches_with_go_style_groups(sb: Sandbox) -> None:
    conf = sb.root / "x.conf"
    conf.write_text("port=80\nhost=a\nport=81\n")
    exe = sb.run(OK.format(call=REPLACE_CALL), path=conf)
    assert exe.status == "success", exe.error
    assert exe.result["ok"] is True and exe.result["r"]["changed"] is True
    assert conf.read_text() == "port=800\nhost=a\nport=810\n"


def test_replace_in_a_dry_run_records_the_diff(sb: Sandbox) -> None:
    conf = sb.root / "x.conf"
    conf.write_text("port=80\n")
    exe = sb.run(OK.format(call=REPLACE_CALL), True, path=conf)
    assert exe.status == "success", exe.error
    assert conf.read_text() == "port=80\n"
    [call] = sb.calls(exe, "file_ops.replace")
    assert "-port=80\n+port=800\n" in call["diff"] and call["dry_run"] is True


def test_replace_reads_go_regexps_and_templates_as_upstream(sb: Sandbox) -> None:
    # What Go's regexp.ReplaceAllString gives for the same pattern, text and template.
    conf = sb.root / "nginx.conf"
    conf.write_text("listen 80;\nlisten ٣;\n# listen 81;\n")
    call = (
        "file_ops.replace({path = path, pattern = '(?m)^(?P<kw>listen) (?P<port>\\\\d+);',"
        " replacement = '${kw} 1${port} $port2 $$;'})"
    )
    exe = sb.run(OK.format(call=call), path=conf)
    assert exe.status == "success", exe.error
    assert exe.result["ok"] is True and exe.result["r"]["changed"] is True
    # \d is ASCII (the Arabic-Indic digit stays), ${name} and $$ expand, and $port2
    # names no group, which Go expands to nothing.
    assert conf.read_text() == "listen 180  $;\nlisten ٣;\n# listen 81;\n"


@pytest.mark.parametrize(
    ("pattern", "replacement", "before", "after"),
    [
        ("x*", "-", "abxd", "-a-b-d-"),  # Go skips an empty match right after a match
        ("a(x*)b", "$1W", "-ab-axxb-", "---"),  # "$1W" is the group named 1W: empty
        ("a(x*)b", "${1}W", "-ab-axxb-", "-W-xxW-"),
        ("", "", "", ""),
        ("é*", "<$0>", "aéé", "<>a<éé>"),
        ("\\\\b", "|", "hi there", "|hi| |there|"),
    ],
)
def test_replace_matches_go_replaceallstring(
    sb: Sandbox, pattern: str, replacement: str, before: str, after: str
) -> None:
    if not pattern:
        return  # an empty pattern is upstream's "pattern parameter is required"
    f = sb.root / "t.txt"
    f.write_text(before)
    call = (
        f"file_ops.replace({{path = path, pattern = '{pattern}', replacement = '{replacement}'}})"
    )
    exe = sb.run(OK.format(call=call), path=f)
    assert exe.status == "success", exe.error
    assert exe.result["ok"] is True, exe.result
    assert f.read_text() == after


def test_replace_keeps_bytes_that_are_not_utf8(sb: Sandbox) -> None:
    f = sb.root / "latin1.conf"
    f.write_bytes(b"name=caf\xe9\nport=80\n")
    exe = sb.run(OK.format(call=REPLACE_CALL), path=f)
    assert exe.status == "success", exe.error
    assert f.read_bytes() == b"name=caf\xe9\nport=800\n"


def test_lineinfile_with_an_upstream_style_regexp(sb: Sandbox) -> None:
    conf = sb.root / "sshd_config"
    conf.write_text("Port 22\n#PermitRootLogin yes\nUsePAM yes\n")
    call = (
        "file_ops.lineinfile({path = path, regexp = '^#?(?P<k>PermitRootLogin)\\\\s+\\\\w+$',"
        " line = 'PermitRootLogin no'})"
    )
    exe = sb.run(OK.format(call=call), path=conf)
    assert exe.status == "success", exe.error
    assert exe.result["r"]["changed"] is True
    assert conf.read_text() == "Port 22\nPermitRootLogin no\nUsePAM yes\n"


def test_the_text_edits_stop_at_the_runs_deadline() -> None:
    # RE2 is linear, but a match per byte of 8 MiB is seconds of Python: the loop looks
    # at the run's deadline, which the Lua side cannot enforce inside a host call.
    with pytest.raises(HostError, match="replace: the run's deadline passed"):
        text.replace("x" * 100_000, "y*", "-", deadline=time.monotonic() - 1)
    with pytest.raises(HostError, match="lineinfile: the run's deadline passed"):
        text.lineinfile("a\n" * 10_000, "b", "present", "c", deadline=time.monotonic() - 1)
    assert text.replace("x" * 100, "y*", "", deadline=time.monotonic() + 60) == "x" * 100


# -- unarchive --------------------------------------------------------------------


def make_tar(path: Path, files: dict[str, bytes], gz: bool = False) -> None:
    with tarfile.open(path, "w:gz" if gz else "w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("kind", ["tar", "tar.gz", "zip"])
def test_unarchive_unpacks_each_format(sb: Sandbox, kind: str) -> None:
    archive = sb.root / f"bundle.{kind}"
    files = {"top.txt": b"top", "dir/inner.txt": b"inner"}
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for name, data in files.items():
                zf.writestr(name, data)
    else:
        make_tar(archive, files, gz=kind == "tar.gz")
    dest = sb.root / "out"
    exe = sb.run(
        OK.format(call="file_ops.unarchive({src = src, dest = dest})"), src=archive, dest=dest
    )
    assert exe.status == "success", exe.error
    assert exe.result["ok"] is True and exe.result["r"]["files"] == 2
    assert (dest / "top.txt").read_bytes() == b"top"
    assert (dest / "dir" / "inner.txt").read_bytes() == b"inner"


def test_unarchive_in_a_dry_run_lists_and_touches_nothing(sb: Sandbox) -> None:
    archive = sb.root / "bundle.tgz"
    make_tar(archive, {"a.txt": b"a"}, gz=True)
    dest = sb.root / "out"
    exe = sb.run(
        OK.format(call="file_ops.unarchive({src = src, dest = dest})"), True, src=archive, dest=dest
    )
    assert exe.status == "success", exe.error
    assert exe.result["r"]["dry_run"] is True
    assert not dest.exists()
    [call] = sb.calls(exe, "file_ops.unarchive")
    assert call["members"] == ["a.txt"] and call["dry_run"] is True


# -- stat -------------------------------------------------------------------------

STAT_BODY = "return {file_ops.stat({path = path}), file_ops.stat({path = missing})}"


@pytest.mark.parametrize("dry_run", [False, True])
def test_stat_reports_a_file_and_a_missing_one(sb: Sandbox, dry_run: bool) -> None:
    f = sb.root / "s.txt"
    f.write_bytes(b"abc")
    f.chmod(0o640)
    exe = sb.run(STAT_BODY, dry_run, path=f, missing=sb.root / "nope")
    assert exe.status == "success", exe.error
    got, missing = exe.result
    assert missing == {"exists": False}
    assert got["exists"] is True and got["is_file"] is True and got["is_dir"] is False
    assert got["size"] == 3 and got["mode"] == "640"
    assert got["checksum"] == hashlib.sha256(b"abc").hexdigest()
    calls = sb.calls(exe, "file_ops.stat")
    assert len(calls) == 2 and all(c["dry_run"] is dry_run for c in calls)
