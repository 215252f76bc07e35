"""File watchers on real files: the events, coalescing, patterns, errors, and in the daemon."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sourcekit import DaemonProcess, async_wait_for, events_of, wait_for, write_config

from sloth_tui.config import WatcherSettings
from sloth_tui.engine.events import catalog_warnings
from sloth_tui.sources.watchers import FileWatchers, Watcher, WatcherError

Sent = list[tuple[str, dict[str, Any], str]]


class Recorder:
    """Stands in for engine.dispatch; also checks it is only ever called on the loop's thread."""

    def __init__(self) -> None:
        self.sent: Sent = []
        self.thread = threading.get_ident()

    async def __call__(self, event_type: str, data: dict[str, Any], *, source: str) -> None:
        assert threading.get_ident() == self.thread, "dispatch called off the loop thread"
        self.sent.append((event_type, data, source))

    def types(self) -> list[str]:
        return [t for t, _, _ in self.sent]


@pytest.fixture
async def watch(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    started: list[FileWatchers] = []

    async def start(
        *configs: WatcherSettings, window: float = 0.15
    ) -> tuple[Recorder, dict[str, str]]:
        rec = Recorder()
        fw = FileWatchers(rec, configs, window=window)
        errors = fw.start()  # its inotify watches are in place once it returns
        started.append(fw)
        return rec, errors

    yield start
    for fw in started:
        await fw.stop()


async def until(rec: Recorder, predicate: Callable[[list[str]], bool], what: str) -> None:
    await async_wait_for(lambda: predicate(rec.types()), timeout=10, what=what)


async def test_file_and_dir_events_with_the_catalogs_fields(watch: Any, tmp_path: Path) -> None:
    root = tmp_path / "w"
    root.mkdir()
    rec, errors = await watch(WatcherSettings(name="w", path=str(root)))
    assert errors == {}
    (root / "a.txt").write_text("hello")
    await until(rec, lambda t: "file.created" in t, "file.created")
    (root / "sub").mkdir()
    await until(rec, lambda t: "dir.created" in t, "dir.created")
    (root / "a.txt").rename(root / "sub" / "b.txt")
    await until(rec, lambda t: "file.renamed" in t, "file.renamed")
    (root / "sub" / "b.txt").unlink()
    await until(rec, lambda t: "file.deleted" in t, "file.deleted")
    (root / "sub").rmdir()
    await until(rec, lambda t: "dir.deleted" in t, "dir.deleted")
    by_type = {t: d for t, d, _ in rec.sent}
    assert by_type["file.created"] == {
        "path": str(root / "a.txt"),
        "size": 5,
        "mode": by_type["file.created"]["mode"],
        "watcher": "w",
    }
    assert len(by_type["file.created"]["mode"]) == 4
    assert by_type["file.renamed"]["old_path"] == str(root / "a.txt")
    assert by_type["file.renamed"]["new_path"] == str(root / "sub" / "b.txt")
    assert by_type["dir.deleted"] == {"path": str(root / "sub"), "watcher": "w"}
    for event_type, data in by_type.items():
        assert catalog_warnings(event_type, data) == [], event_type
    assert {s for _, _, s in rec.sent} == {"watcher:w"}


async def test_a_burst_of_writes_is_one_event(watch: Any, tmp_path: Path) -> None:
    target = tmp_path / "log.txt"
    target.write_text("")
    rec, _ = await watch(WatcherSettings(name="logs", path=str(tmp_path)), window=0.3)
    with target.open("a") as f:
        for i in range(50):
            f.write(f"line {i}\n")
            f.flush()
            os.fsync(f.fileno())
    await until(rec, lambda t: "file.modified" in t, "file.modified")
    await asyncio.sleep(0.5)  # negative: a window and more for a second one to come
    modified = [d for t, d, _ in rec.sent if t == "file.modified"]
    assert len(modified) == 1
    assert modified[0]["size"] == target.stat().st_size  # the size after the burst
    assert modified[0]["modification_time"].endswith("Z")


async def test_a_file_written_right_after_creation_is_one_created(
    watch: Any, tmp_path: Path
) -> None:
    rec, _ = await watch(WatcherSettings(name="w", path=str(tmp_path)))
    with (tmp_path / "new.bin").open("wb") as f:
        for _ in range(10):
            f.write(b"x" * 100)
            f.flush()
    await until(rec, lambda t: "file.created" in t, "file.created")
    await asyncio.sleep(0.3)  # negative: a window for a file.modified to come
    assert rec.types() == ["file.created"] and rec.sent[0][1]["size"] == 1000


async def test_patterns_and_ignore(watch: Any, tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "deep").mkdir()
    rec, _ = await watch(
        WatcherSettings(
            name="w", path=str(tmp_path), patterns=("*.log",), ignore=(".git", "skip-*")
        )
    )
    (tmp_path / "notes.txt").write_text("no")
    (tmp_path / ".git" / "x.log").write_text("no")
    (tmp_path / "skip-me.log").write_text("no")
    (tmp_path / "deep" / "yes.log").write_text("yes")
    await until(rec, lambda t: bool(t), "an event")
    await asyncio.sleep(0.4)  # negative: time for the ignored files' events to come
    assert [d["path"] for _, d, _ in rec.sent] == [str(tmp_path / "deep" / "yes.log")]


async def test_not_recursive_and_single_file(watch: Any, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    single = tmp_path / "app.conf"
    single.write_text("a")
    rec, _ = await watch(
        WatcherSettings(name="top", path=str(tmp_path), recursive=False),
        WatcherSettings(name="conf", path=str(single)),
    )
    (tmp_path / "sub" / "inner.txt").write_text("no: below a non-recursive root")
    single.write_text("changed")
    await until(rec, lambda t: t.count("file.modified") >= 2, "both watchers")
    await asyncio.sleep(0.3)  # negative: time for an event below the non-recursive root
    seen = sorted((s, d["path"]) for t, d, s in rec.sent)
    assert seen == [("watcher:conf", str(single)), ("watcher:top", str(single))]


async def test_missing_paths_are_clear_errors_and_the_rest_still_run(
    watch: Any, tmp_path: Path
) -> None:
    rec, errors = await watch(
        WatcherSettings(name="gone", path=str(tmp_path / "nope")),
        WatcherSettings(name="ok", path=str(tmp_path)),
    )
    assert errors == {"gone": f"watcher 'gone': {tmp_path / 'nope'} does not exist"}
    (tmp_path / "f").write_text("x")
    await until(rec, lambda t: "file.created" in t, "the good watcher")
    with pytest.raises(WatcherError, match="does not exist"):
        Watcher(WatcherSettings(name="x", path=str(tmp_path / "nope")), lambda *a: None, 0.1)


async def test_stop_sends_what_was_being_coalesced(tmp_path: Path) -> None:
    rec = Recorder()
    fw = FileWatchers(rec, (WatcherSettings(name="w", path=str(tmp_path)),), window=30)
    fw.start()  # its inotify watches are in place once it returns
    (tmp_path / "late.txt").write_text("x")
    watcher = fw._watchers["w"]
    late = str(watcher.root / "late.txt")
    await async_wait_for(lambda: late in watcher._pending, what="the file's event held")
    assert rec.sent == []  # still inside its (long) window
    await fw.stop()
    assert rec.types() == ["file.created"]


def test_the_daemon_runs_the_configured_watchers(
    daemons: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    d = daemons()
    watched = tmp_path / "drop"
    watched.mkdir()
    write_config(
        d.home,
        f'[[watchers]]\nname = "drop"\npath = "{watched}"\npatterns = ["*.csv"]\n'
        f'\n[[watchers]]\nname = "gone"\npath = "{tmp_path / "missing"}"\n',
    )
    d.start("--no-monitor")
    (watched / "in.csv").write_text("a,b\n")
    (watched / "in.tmp").write_text("ignored")
    wait_for(lambda: events_of(d.home, "file.*"), what="the watcher's event")
    [error] = events_of(d.home, "system.error")
    assert (
        error["data"]["component"] == "watcher:gone" and "does not exist" in error["data"]["error"]
    )
    assert f"watcher 'gone': {tmp_path / 'missing'} does not exist" in d.output()
    assert d.signal(signal.SIGTERM) == 0
    [created] = events_of(d.home, "file.*")
    assert created["type"] == "file.created" and created["source"] == "watcher:drop"
    assert created["data"]["path"] == str(watched / "in.csv")


async def test_a_flood_beyond_the_queue_is_dropped_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import sloth_tui.sources.watchers as watchers

    monkeypatch.setattr(watchers, "QUEUE_SIZE", 4)
    stuck = asyncio.Event()

    async def slow(event_type: str, data: dict[str, Any], *, source: str) -> None:
        await stuck.wait()  # the engine is behind

    fw = FileWatchers(slow, (WatcherSettings(name="w", path=str(tmp_path)),), window=0.01)
    fw.start()  # its inotify watches are in place once it returns
    for i in range(40):
        (tmp_path / f"f{i}").mkdir()  # dir events are not coalesced
    await async_wait_for(lambda: fw.dropped > 0, what="drops")
    assert "the engine is behind" in caplog.text
    stuck.set()
    await fw.stop(timeout=2)


async def test_an_os_error_while_scheduling_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchdog.observers import Observer

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "inotify watch limit reached")

    monkeypatch.setattr(Observer, "schedule", refuse)
    fw = FileWatchers(Recorder(), (WatcherSettings(name="big", path=str(tmp_path)),))
    errors = fw.start()
    assert errors == {"big": f"watcher 'big': cannot watch {tmp_path}: inotify watch limit reached"}
    assert fw.names == []
    await fw.stop()


async def test_a_file_name_that_is_not_utf8_is_reported_escaped(watch: Any, tmp_path: Path) -> None:
    """os.fsdecode keeps undecodable bytes as lone surrogates, which the store refuses: the
    event would be lost. The path shows the bytes as \\xNN instead."""
    root = tmp_path / "w"
    root.mkdir()
    rec, _ = await watch(WatcherSettings(name="w", path=str(root)))
    with open(os.path.join(os.fsencode(root), b"bad\xff.txt"), "wb") as f:
        f.write(b"x")
    await until(rec, lambda t: "file.created" in t, "file.created")
    path = next(d["path"] for t, d, _ in rec.sent if t == "file.created")
    assert path == str(root / "bad\\xff.txt")
    path.encode("utf-8")  # storable
