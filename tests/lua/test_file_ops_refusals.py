"""file_ops refuses what the issue's "Bad input" lists, each with `nil, err`, a
recorded refusal, and nothing touched outside the roots: paths outside the roots,
through a symlink or with `..`; tar and zip members with `../../etc/x`, an absolute
path or a symlink out; a 2 GB copy; a template with `{{call .x}}`."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from file_ops_support import Sandbox, make_sandbox
from hypothesis import given, settings
from hypothesis import strategies as st

from sloth_tui.lua.modules.base import HostError
from sloth_tui.lua.modules.file_ops_paths import confine
from sloth_tui.model.records import Event, Hook

PAIR = "local ok, err = {call}\nreturn {{ok = ok == nil, err = err}}"


@pytest.fixture
def sb(tmp_path: Path, host: Any, make_hook: Callable[..., Hook], deploy_event: Event) -> Sandbox:
    return make_sandbox(tmp_path, host, make_hook, deploy_event)


def refused(sb: Sandbox, call: str, fn: str, **paths: object) -> str:
    """Run `call` in a real run: it must answer nil, err and record a refusal."""
    exe = sb.run(PAIR.format(call=call), **paths)
    assert exe.status == "success", exe.error
    assert exe.result["ok"] is True, exe.result
    err = exe.result["err"]
    assert err.startswith(f"{fn}: ") and "\n" not in err
    [record] = sb.calls(exe, fn)
    assert record["error"] == err.removeprefix(f"{fn}: ")
    assert record["changed"] is False
    return str(err)


def test_a_path_outside_the_roots(sb: Sandbox) -> None:
    target = sb.outside / "x.log"
    err = refused(
        sb, "file_ops.lineinfile({path = p, line = 'x'})", "file_ops.lineinfile", p=target
    )
    assert "outside the file roots" in err
    assert not target.exists()


def test_a_path_through_a_symlinked_directory(sb: Sandbox) -> None:
    (sb.root / "link").symlink_to(sb.outside, target_is_directory=True)
    target = sb.root / "link" / "x.log"
    err = refused(
        sb, "file_ops.lineinfile({path = p, line = 'x'})", "file_ops.lineinfile", p=target
    )
    assert "resolves to" in err and "outside the file roots" in err
    assert list(sb.outside.iterdir()) == []


def test_a_write_through_a_symlinked_file(sb: Sandbox) -> None:
    victim = sb.outside / "passwd"
    victim.write_text("root:x:0:0\n")
    (sb.root / "conf").symlink_to(victim)
    src = sb.root / "new"
    src.write_text("owned\n")
    refused(sb, "file_ops.copy({src = s, dest = d})", "file_ops.copy", s=src, d=sb.root / "conf")
    assert victim.read_text() == "root:x:0:0\n"


def test_a_read_through_a_symlink_out(sb: Sandbox) -> None:
    secret = sb.outside / "secret"
    secret.write_text("s3cret")
    (sb.root / "peek").symlink_to(secret)
    err = refused(sb, "file_ops.stat({path = p})", "file_ops.stat", p=sb.root / "peek")
    assert "outside the file roots" in err


def test_a_path_with_dotdot(sb: Sandbox) -> None:
    sneaky = f"{sb.root}/../outside/x.log"
    err = refused(
        sb, "file_ops.lineinfile({path = p, line = 'x'})", "file_ops.lineinfile", p=sneaky
    )
    assert "'..' is not allowed" in err
    assert not (sb.outside / "x.log").exists()


def _tar(path: Path, member: tarfile.TarInfo, data: bytes = b"pwned") -> None:
    with tarfile.open(path, "w:gz" if path.name.endswith("gz") else "w") as tf:
        ok = tarfile.TarInfo("fine.txt")
        ok.size = 2
        tf.addfile(ok, io.BytesIO(b"ok"))
        member.size = len(data) if member.isreg() else 0
        tf.addfile(member, io.BytesIO(data) if member.isreg() else None)


def _symlink_info(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


TAR_CASES = {
    "dotdot": (tarfile.TarInfo("../../etc/x"), "'..' is not allowed"),
    "absolute": (tarfile.TarInfo("/etc/x"), "absolute path"),
    "symlink": (_symlink_info("evil", "../../outside"), "leaves dest"),
    "abs-symlink": (_symlink_info("evil", "/etc"), "leaves dest"),
}


@pytest.mark.parametrize("case", sorted(TAR_CASES))
@pytest.mark.parametrize("ext", ["tar", "tar.gz"])
def test_a_tar_with_a_hostile_member(sb: Sandbox, case: str, ext: str) -> None:
    member, why = TAR_CASES[case]
    archive = sb.root / f"bad.{ext}"
    _tar(archive, member)
    dest = sb.root / "out"
    err = refused(
        sb, "file_ops.unarchive({src = s, dest = d})", "file_ops.unarchive", s=archive, d=dest
    )
    assert why in err
    assert not dest.exists()  # checked before the first member is written
    assert list(sb.outside.iterdir()) == []


def _zip_symlink(zf: zipfile.ZipFile, name: str, target: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = (0o120777 << 16) | 0
    zf.writestr(info, target)


@pytest.mark.parametrize(
    ("case", "why"),
    [("dotdot", "'..' is not allowed"), ("absolute", "absolute path"), ("symlink", "leaves dest")],
)
def test_a_zip_with_a_hostile_member(sb: Sandbox, case: str, why: str) -> None:
    archive = sb.root / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.txt", b"ok")
        if case == "dotdot":
            zf.writestr("../../etc/x", b"pwned")
        elif case == "absolute":
            zf.writestr(zipfile.ZipInfo("/etc/x"), b"pwned")
        else:
            _zip_symlink(zf, "evil", "../../outside")
    dest = sb.root / "out"
    err = refused(
        sb, "file_ops.unarchive({src = s, dest = d})", "file_ops.unarchive", s=archive, d=dest
    )
    assert why in err
    assert not dest.exists()


def test_a_2gb_copy_is_refused_without_reading_it(sb: Sandbox) -> None:
    big = sb.root / "big.img"
    with open(big, "wb") as f:
        f.truncate(2 * 1024**3)  # sparse: takes no disk, and no time unless read
    dest = sb.root / "copy.img"
    err = refused(sb, "file_ops.copy({src = s, dest = d})", "file_ops.copy", s=big, d=dest)
    assert "over the 64 MiB cap" in err
    assert not dest.exists()


def test_a_template_with_a_function_call(sb: Sandbox) -> None:
    src = sb.root / "t.tpl"
    src.write_text("x={{.x}} y={{call .x}}\n")
    dest = sb.root / "out"
    err = refused(
        sb,
        "file_ops.template({src = s, dest = d, vars = {x = 1}})",
        "file_ops.template",
        s=src,
        d=dest,
    )
    assert "{{call .x}} is not supported" in err
    assert not dest.exists()


@pytest.mark.parametrize(
    "args", ["nil", "'a string'", "42", "{path = print}", "{path = 7}", "{}", "{path = ''}"]
)
def test_bad_arguments_answer_nil_err_never_raise(sb: Sandbox, args: str) -> None:
    exe = sb.run(
        f"local ok, err = file_ops.lineinfile({args})\nreturn {{ok = ok == nil, err = err}}"
    )
    assert exe.status == "success", exe.error
    assert exe.result["ok"] is True and exe.result["err"].startswith("file_ops.lineinfile: ")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="/.ab\\\x00 ~", max_size=24))
def test_confine_answers_a_path_inside_the_root_or_refuses(raw: str) -> None:
    root = os.path.realpath(os.path.join(os.path.dirname(__file__), "data"))
    try:
        got = confine(root + raw, "path", (root,))
    except HostError:
        return
    assert got == root or got.startswith(root + os.sep)


def test_a_tar_whose_links_chain_out_of_dest(sb: Sandbox) -> None:
    # Each link looks inside on its own (l1 -> l2/../x reads as "x"), but l2 -> "."
    # makes l1 land beside dest: '..' in a link target is refused outright.
    archive = sb.root / "chain.tar"
    with tarfile.open(archive, "w") as tf:
        tf.addfile(_symlink_info("l2", "."))
        tf.addfile(_symlink_info("l1", "l2/../outside"))
    dest = sb.root / "out"
    call = "file_ops.unarchive({src = s, dest = d})"
    err = refused(sb, call, "file_ops.unarchive", s=archive, d=dest)
    assert "'..' in a link is refused" in err
    assert not dest.exists()


def test_a_tar_unpacked_over_a_link_already_in_dest(sb: Sandbox) -> None:
    dest = sb.root / "out"
    dest.mkdir()
    (dest / "sub").symlink_to(sb.outside, target_is_directory=True)
    archive = sb.root / "b.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("sub/deep/x")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    call = "file_ops.unarchive({src = s, dest = d})"
    err = refused(sb, call, "file_ops.unarchive", s=archive, d=dest)
    assert "leads out of dest through a link" in err
    assert list(sb.outside.iterdir()) == []


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("(a)\\\\1", "pattern uses a backreference (\\1): RE2, like Sloth Runner's Go regexp"),
        ("a(?=b)", "pattern uses lookahead (?=...)"),
        ("(?<!x)a", "pattern uses negative lookbehind (?<!...)"),
        ("a\\\\Z", "pattern uses \\Z, which RE2 does not have: write \\z"),
        ("(unclosed", "pattern is not a valid regular expression (RE2 syntax): missing )"),
    ],
)
def test_a_regexp_re2_cannot_run_is_refused(sb: Sandbox, pattern: str, why: str) -> None:
    f = sb.root / "f.txt"
    f.write_text("a" * 40 + "!\n")
    call = f"file_ops.replace({{path = p, pattern = '{pattern}', replacement = 'b'}})"
    err = refused(sb, call, "file_ops.replace", p=f)
    assert why in err
    assert f.read_text() == "a" * 40 + "!\n"
    call = f"file_ops.lineinfile({{path = p, regexp = '{pattern}', line = 'b'}})"
    err = refused(sb, call, "file_ops.lineinfile", p=f)
    assert why.replace("pattern", "regexp", 1) in err
    assert f.read_text() == "a" * 40 + "!\n"


def test_a_nested_repeat_runs_now_that_re2_does_not_backtrack(sb: Sandbox) -> None:
    # Refused while Python's re ran these: (a+)+$ on a's and a '!' is 2^40 steps there.
    f = sb.root / "f.txt"
    f.write_text("a" * 40 + "!\n")
    exe = sb.run(
        "local ok, r = file_ops.replace({path = p, pattern = '(a+)+$', replacement = 'b'})\n"
        "local ok2, r2 = file_ops.replace({path = p, pattern = '(a|aa)*!', replacement = 'b'})\n"
        "return {ok = ok, changed = r.changed, ok2 = ok2, changed2 = r2.changed}",
        p=f,
    )
    assert exe.status == "success", exe.error
    assert exe.result == {"ok": True, "changed": False, "ok2": True, "changed2": True}
    assert f.read_text() == "b\n"


def test_a_regexp_too_costly_for_the_file_is_refused(sb: Sandbox) -> None:
    # Linear still costs (program size x bytes): past WORK_MAX a hook's deadline, which
    # cannot stop RE2 in C, would pass long before the call returned.
    f = sb.root / "big.txt"
    f.write_text("word " * 200_000)
    call = "file_ops.replace({path = p, pattern = '\\\\pL{20}', replacement = 'b'})"
    err = refused(sb, call, "file_ops.replace", p=f)
    assert "pattern is too complex for 1,000,000 bytes of text" in err
    assert f.read_text() == "word " * 200_000
