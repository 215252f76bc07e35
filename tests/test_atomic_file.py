"""The one file writer (sloth_tui/atomic_file.py), on real files.

A failing write is real too: a child process whose file size limit (RLIMIT_FSIZE) is
smaller than what it writes gets EFBIG from write(), as a full disk gives ENOSPC.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloth_tui.atomic_file import PRIVATE, SHARED, create_exclusively, write_atomically


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=20_000), st.text(max_size=5_000)))
def test_what_is_written_reads_back_exactly(tmp_path: Path, data: bytes | str) -> None:
    path = tmp_path / "deep" / "file"
    assert write_atomically(path, data) == path
    expected = data.encode("utf-8") if isinstance(data, str) else data
    assert path.read_bytes() == expected
    assert _mode(path) == PRIVATE
    assert _leftovers(path.parent) == []


def test_modes_new_kept_and_given(tmp_path: Path) -> None:
    path = tmp_path / "hook.lua"
    write_atomically(path, "a", mode=SHARED, keep_mode=True)
    assert _mode(path) == SHARED  # new: the mode given
    os.chmod(path, 0o640)
    write_atomically(path, "b", mode=SHARED, keep_mode=True)
    assert _mode(path) == 0o640  # kept
    write_atomically(path, "c", mode=SHARED)
    assert _mode(path) == SHARED  # given, whatever it was
    old = os.umask(0o077)
    try:
        write_atomically(tmp_path / "other", "d", mode=SHARED)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "other") == SHARED  # not the umask's


def test_a_link_is_written_through_or_replaced(tmp_path: Path) -> None:
    target = tmp_path / "dotfiles" / "config.toml"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "config.toml"
    link.symlink_to(target)

    write_atomically(link, "through", follow_link=True)
    assert link.is_symlink() and target.read_text() == "through"

    write_atomically(link, "replaced")
    assert not link.is_symlink() and link.read_text() == "replaced"
    assert target.read_text() == "through"  # a planted link redirects nothing


_CHILD = textwrap.dedent(
    """
    import json, resource, signal, sys
    from sloth_tui.atomic_file import create_exclusively, write_atomically
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
    how, path = sys.argv[1], sys.argv[2]
    try:
        if how == "replace":
            write_atomically(path, b"n" * 5000)
        else:
            create_exclusively(path, b"k" * 5000)
    except OSError as exc:
        print(json.dumps({"type": type(exc).__name__, "filename": exc.filename,
                          "strerror": exc.strerror}))
    else:
        print(json.dumps(None))
    """
)


def _in_a_child_that_cannot_write_much(how: str, path: Path) -> dict[str, str] | None:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, how, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, str] | None = json.loads(done.stdout)
    return result


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "schedules.json"
    path.write_text("the old one")
    failure = _in_a_child_that_cannot_write_much("replace", path)
    assert failure is not None, "the child wrote past its size limit"
    assert failure["filename"] == str(path)  # names the file the operator knows
    assert failure["strerror"] == os.strerror(27)  # EFBIG: File too large
    assert path.read_text() == "the old one"
    assert _leftovers(tmp_path) == []


def test_a_failed_creation_leaves_no_file_at_all(tmp_path: Path) -> None:
    """A key file half made would read as a damaged one, for ever."""
    path = tmp_path / "secrets.key"
    failure = _in_a_child_that_cannot_write_much("create", path)
    assert failure is not None and failure["filename"] == str(path)
    assert list(tmp_path.iterdir()) == []


def test_create_exclusively_makes_once_and_leaves_the_first(tmp_path: Path) -> None:
    path = tmp_path / "secrets.key"
    assert create_exclusively(path, b"first") is True
    assert _mode(path) == PRIVATE
    assert create_exclusively(path, b"second") is False
    assert path.read_bytes() == b"first"
    assert _leftovers(tmp_path) == []


def test_an_unwritable_place_is_an_oserror_naming_the_target(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(OSError) as caught:
        write_atomically(blocker / "file", "x")
    assert caught.value.filename == str(blocker / "file")
