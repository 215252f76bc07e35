"""kind = "log" on a real file: appended, rotated by rename and by truncation, matched."""

from __future__ import annotations

import os
from pathlib import Path

from watchkit import Api, Clock

from sloth_tui.sources.watch_config import LogWatch
from sloth_tui.sources.watch_log import LogFollower, LogWatcher

PATTERN = r"ERROR (?P<code>E\d+) user=(\w+)"


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


async def started(spec: LogWatch) -> tuple[LogWatcher, Api, Clock]:
    clock, api = Clock(), Api()
    w = LogWatcher(spec, sleep=clock.sleep)
    await w.start(api)  # type: ignore[arg-type]
    await clock.settled()
    return w, api, clock


def lines_of(api: Api) -> list[str]:
    return [d["line"] for d in api.of("log.pattern_matched")]


async def test_match_with_groups_and_only_new_lines(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("ERROR E1 user=old\n")  # before the start: not news
    w, api, clock = await started(LogWatch("app", path=str(log), pattern=PATTERN))
    try:
        append(log, "INFO fine\nERROR E42 user=alice trailing\n")
        await clock.step()
        assert api.sent == [
            (
                "log.pattern_matched",
                {
                    "path": str(log),
                    "pattern": PATTERN,
                    "line": "ERROR E42 user=alice trailing",
                    "watcher_id": "app",
                    "match": "ERROR E42 user=alice",
                    "groups": ["E42", "alice"],
                    "named": {"code": "E42"},
                },
                "watcher:app",
            )
        ]
        append(log, "ERROR E7 user=b")  # no newline yet: a writer mid-line
        await clock.step()
        assert len(api.sent) == 1
        append(log, "ob\r\n")
        await clock.step()
        assert lines_of(api)[1:] == ["ERROR E7 user=bob"]
    finally:
        await w.stop()


async def test_rotation_by_rename_reads_the_old_tail_then_the_new_file(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    w, api, clock = await started(LogWatch("app", path=str(log), pattern="ERROR"))
    try:
        append(log, "ERROR 1\n")
        await clock.step()
        os.rename(log, tmp_path / "app.log.1")
        append(tmp_path / "app.log.1", "ERROR 2 (late, in the old file)\nERROR 3 unfinished")
        await clock.step()  # the file is gone: the old one is still read, the rest waits
        assert lines_of(api) == ["ERROR 1", "ERROR 2 (late, in the old file)"]
        assert "waiting for the file" in w.health().detail
        log.write_text("ERROR 4 (new file)\n")
        await clock.step()
        assert lines_of(api) == [
            "ERROR 1",
            "ERROR 2 (late, in the old file)",
            "ERROR 3 unfinished",  # the old file's last line, though it had no newline
            "ERROR 4 (new file)",
        ]
        assert "rotated 1x" in w.health().detail
        append(log, "ERROR 5\n")
        await clock.step()
        assert lines_of(api)[-1] == "ERROR 5"
    finally:
        await w.stop()


async def test_rotation_by_copytruncate(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("x" * 100 + "\n")
    w, api, clock = await started(LogWatch("app", path=str(log), pattern="ERROR"))
    try:
        append(log, "ERROR before\n")
        await clock.step()
        with open(log, "r+b") as f:  # what logrotate's copytruncate does after its copy
            f.truncate(0)
        append(log, "ERROR after\n")
        await clock.step()
        assert lines_of(api) == ["ERROR before", "ERROR after"]
        assert "truncated 1x" in w.health().detail
    finally:
        await w.stop()


async def test_missing_file_is_waited_for_then_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "later.log"
    w, api, clock = await started(LogWatch("later", path=str(log), pattern="hit"))
    try:
        assert w.health().state == "running"
        assert "waiting for the file to exist" in w.health().detail
        await clock.step()
        log.write_text("a hit\n")
        await clock.step()
        assert lines_of(api) == ["a hit"]
    finally:
        await w.stop()


async def test_from_start_reads_what_is_there(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("hit 1\nmiss\nhit 2\n")
    w, api, _clock = await started(LogWatch("app", path=str(log), pattern="hit", from_start=True))
    await w.stop()
    assert lines_of(api) == ["hit 1", "hit 2"]


async def test_a_directory_is_reported_once_and_the_watcher_goes_on(tmp_path: Path) -> None:
    target = tmp_path / "dir.log"
    target.mkdir()
    w, api, clock = await started(LogWatch("d", path=str(target), pattern="x"))
    try:
        await clock.step()
        errors = api.of("system.error")
        assert len(errors) == 1 and "is not a regular file" in errors[0]["error"]
        assert "failing:" in w.health().detail and w.health().state == "running"
        target.rmdir()
        target.write_text("")
        await clock.step()
        append(target, "x marks\n")
        await clock.step()
        assert lines_of(api) == ["x marks"] and "failing" not in w.health().detail
    finally:
        await w.stop()


def test_long_lines_are_cut_and_their_rest_skipped(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_bytes(b"")
    f = LogFollower(str(log), max_line=256, from_start=True)
    assert f.read() == []
    append(log, "A" * 1000)  # unfinished and already too long
    assert f.read() == [("A" * 256, True)]
    append(log, "B" * 70_000 + "\nshort\n" + "C" * 300 + "\n")
    assert f.read() == [("short", False), ("C" * 256, True)]
    assert f.cut == 2
    f.close()


def test_bytes_that_are_not_utf8_become_replacement_characters(tmp_path: Path) -> None:
    log = tmp_path / "bin.log"
    log.write_bytes(b"ok \xff\xfe \xed\xa0\x80 end\n\x00\x1b[31m\n")
    f = LogFollower(str(log), max_line=4096, from_start=True)
    lines = [text for text, _ in f.read()]
    f.close()
    assert lines[0].startswith("ok \ufffd\ufffd ") and lines[0].endswith(" end")
    assert lines[1] == "\x00\x1b[31m"
    for text in lines:
        text.encode("utf-8")  # no lone surrogate: the store takes it


async def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    w, api, _clock = await started(LogWatch("f", path=str(fifo), pattern="x"))
    await w.stop()
    assert "is not a regular file" in api.of("system.error")[0]["error"]
