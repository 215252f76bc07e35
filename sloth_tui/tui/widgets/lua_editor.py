"""The built-in Lua editor: a TextArea bound to one hook file on disk.

It highlights Lua (tree-sitter-lua with our own compact query), tracks whether the
buffer differs from the file, saves atomically and only code that compiles, and
watches the file's directory so an edit made elsewhere (vim) is noticed: watchdog
runs in its own thread and hands each poke to the app thread, where a short settle
timer reads the file once and posts `DiskChanged` only if it really changed.

A hook file may hold raw control bytes (Lua strings can): the editor keeps them in the
buffer, as written, but draws each as a visible picture (ESC as ␛), never sends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events
from textual.message import Message
from textual.timer import Timer
from textual.widgets import TextArea
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from sloth_tui.atomic_file import SHARED, write_atomically
from sloth_tui.engine.api import SyntaxProblem
from sloth_tui.model.errors import SlothError
from sloth_tui.tui.reach import engine_of
from sloth_tui.user_path import resolved, user_home, user_path

SETTLE = 0.15  # seconds: editors write in several steps (vim: backup, write, rename)
LIVE_CHECK = 0.4  # seconds of quiet typing before the buffer is compiled for its marks
WATCHED_KINDS = frozenset({"created", "modified", "moved", "deleted"})
# What a line must not send to the terminal: controls but tab (the editor expands it),
# DEL, C1, bidi overrides and isolates, lone surrogates.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the control's own picture: ESC shows as ␛
    return "\u2421" if code == 0x7F else "\ufffd"


def printable_line(line: str) -> str:
    """`line` as drawn: one character for one (the cursor and highlights index by
    character), every control character but tab shown as a picture."""
    return _UNSAFE.sub(_picture, line) if _UNSAFE.search(line) else line


@cache
def lua_language() -> tuple[Any, str] | None:
    """(tree-sitter Language, highlight query), or None when tree-sitter is missing."""
    try:
        import tree_sitter_lua
        from tree_sitter import Language
    except ImportError:
        return None
    query = resources.files("sloth_tui.tui").joinpath("lua_highlights.scm").read_text("utf-8")
    return Language(tree_sitter_lua.language()), query


def atomic_write(path: Path, text: str) -> None:
    """Save hook code whole (sloth_tui/atomic_file.py): readers (the engine, vim) see the
    old file or the new one. A hook file that is a symlink (kept in a dotfiles or config
    repo) stays one: its target is written. A new file is 0644, an ordinary file."""
    write_atomically(path, text, mode=SHARED, keep_mode=True, follow_link=True)


def display_path(path: Path) -> str:
    """A path as the operator reads it: under their home as ~/..."""
    home, text = str(user_home() or "/"), str(path)
    return "~" + text[len(home) :] if home != "/" and text.startswith(home + "/") else text


@dataclass(frozen=True, slots=True)
class SaveResult:
    ok: bool
    line: int | None = None  # the compile error's line, when there is one
    message: str = ""


class _Relay(FileSystemEventHandler):
    """Runs in watchdog's thread: passes on events that touch our one file."""

    def __init__(self, editor: LuaEditor) -> None:
        self.editor = editor
        self.target = str(editor.path)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in WATCHED_KINDS:  # opened/closed: our own reads
            return
        paths = {os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or "")}
        if self.target in paths:
            self.editor.poke_from_thread()


class LuaEditor(TextArea):
    """Posts `DirtyChanged` when the buffer starts or stops differing from the file, and
    `DiskChanged` when the file changes on disk to something other than what we know."""

    class DirtyChanged(Message):
        def __init__(self, dirty: bool) -> None:
            super().__init__()
            self.dirty = dirty

    class SyntaxChecked(Message):
        """The buffer was compiled: `problem` is its error, or None (it compiles)."""

        def __init__(self, problem: SyntaxProblem) -> None:
            super().__init__()
            self.problem = problem

    class DiskChanged(Message):
        def __init__(self, text: str | None) -> None:
            super().__init__()
            self.text = text  # None: the file is gone

        @property
        def deleted(self) -> bool:
            return self.text is None

    def __init__(self, path: Path, *, id: str | None = None) -> None:
        super().__init__(
            "",
            show_line_numbers=True,
            tab_behavior="indent",
            soft_wrap=False,
            id=id,
        )
        self.indent_width = 2
        lang = lua_language()
        if lang is not None:
            self.register_language("lua", *lang)
            self.language = "lua"
        self.path = resolved(user_path(path))
        self.disk_text: str | None = None  # the file as last read or written; None: missing
        self.dirty = False
        self._observer: Any = None
        self._watching = False
        self._settle: Timer | None = None
        self._saving = asyncio.Lock()
        self.problem: SyntaxProblem = None  # the live check's answer for the buffer shown
        self._live: Timer | None = None

    # -- the file ------------------------------------------------------------------

    def read_disk(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def open_file(self, fallback: str = "") -> bool:
        """Load the file into a fresh buffer; False (and `fallback` loaded, unsaved) when it
        does not exist."""
        text = self.read_disk()
        self.disk_text = text
        self.load_text(fallback if text is None else text)
        self._update_dirty()
        return text is not None

    def replace_all(self, text: str) -> None:
        """Put `text` in the buffer as one undoable edit (ctrl+z brings the old text back)."""
        row, col = self.cursor_location
        self.replace(text, (0, 0), self.document.end)
        row = min(row, self.document.line_count - 1)
        self.move_cursor((row, min(col, len(self.document.get_line(row)))))

    def acknowledge_disk(self, text: str | None) -> None:
        """Take `text` as the file's content now (after a change made elsewhere)."""
        self.disk_text = text
        self._update_dirty()

    def get_line(self, line_index: int) -> Text:
        # TextArea's hook for drawing a line (highlights are applied to the Text after).
        line = self.document.get_line(line_index)
        return Text(printable_line(line), end="", no_wrap=True)

    async def check(self, text: str) -> SyntaxProblem:
        """Compile `text` where the hooks run: the engine (attached: the daemon's Lua)."""
        return await engine_of(self).check_syntax(text, self.path.name)

    async def save(self) -> SaveResult:
        """Compile, then write atomically. On a compile error the file is left as it was
        and the cursor goes to the error's line.

        Saves run one at a time, in the order asked, each writing the text it checked: an
        earlier save whose check answers late cannot write over a later one."""
        async with self._saving:
            return await self._save(self.text)

    async def _save(self, text: str) -> SaveResult:
        try:
            problem = await self.check(text)
        except SlothError as exc:  # the daemon went away: the file stays as it was
            return SaveResult(False, None, f"could not check the code: {exc}")
        if problem is not None:
            line, message = self.describe(problem)
            if line:
                self.goto_line(line)
            return SaveResult(False, line or None, message)
        try:
            atomic_write(self.path, text)
        except OSError as exc:
            return SaveResult(False, None, f"could not write {self.path}: {exc.strerror or exc}")
        self.disk_text = text
        self._update_dirty()
        return SaveResult(True)

    def describe(self, problem: tuple[int, str]) -> tuple[int, str]:
        """(line, message) of a compile error, the message without its "name.lua:4:"."""
        line, message = problem
        # Lua says "name.lua:4: unexpected symbol"; the line is shown on its own.
        return line, message.removeprefix(f"{self.path.name}:{line}:").strip()

    def goto_line(self, line: int) -> None:
        row = max(0, min(line - 1, self.document.line_count - 1))
        self.move_cursor((row, 0), center=True)
        self.focus()

    # -- dirty tracking ------------------------------------------------------------

    def _update_dirty(self) -> None:
        dirty = self.text != self.disk_text
        if dirty != self.dirty:
            self.dirty = dirty
            self.post_message(self.DirtyChanged(dirty))

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._update_dirty()
        if self._live is not None:
            self._live.stop()
        self._live = self.set_timer(LIVE_CHECK, self._live_due)

    # -- live syntax marks -----------------------------------------------------------

    def _live_due(self) -> None:
        self._live = None
        # Not exclusive: cancelling a question already sent to the daemon gains nothing,
        # and `live_check` drops an answer that is no longer about the buffer.
        # A mark is not worth the dashboard: a failure here is logged, not raised.
        self.run_worker(self.live_check(), group="lua-live-check", exit_on_error=False)

    async def live_check(self) -> None:
        """Compile the buffer as it is now (where the hooks run). The answer is kept only
        if the buffer still holds that text: a late answer about older text, arriving
        after a newer one, never replaces it."""
        text = self.text
        try:
            problem = await self.check(text)
        except SlothError:
            return  # the daemon is away for now: the marks stay as they were
        if text != self.text or problem == self.problem:
            return
        self.problem = problem
        self.post_message(self.SyntaxChecked(problem))

    def on_key(self, event: events.Key) -> None:
        # The code editor's escape would only move focus; here escape backs out of the
        # screen (the screen asks first when the buffer is unsaved), so let it bubble.
        # Textual calls one handler per class along the MRO; preventing the default skips
        # TextArea's, which would take the key.
        if event.key == "escape":
            event.prevent_default()

    # -- watching the file -----------------------------------------------------------

    def on_mount(self) -> None:
        folder = self.path.parent
        if not folder.is_dir():
            return  # nothing to watch until the first save creates it
        observer = Observer()
        observer.daemon = True
        observer.schedule(_Relay(self), str(folder), recursive=False)
        try:
            observer.start()
        except OSError:  # inotify limits reached: edit on, just unwatched
            return
        self._observer, self._watching = observer, True

    async def on_unmount(self) -> None:
        self._watching = False
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            # Joined off the loop: the watchdog thread may be waiting in call_from_thread.
            await asyncio.to_thread(observer.join, 2.0)

    def poke_from_thread(self) -> None:
        if not self._watching:
            return
        with contextlib.suppress(RuntimeError):  # the app is closing
            self.app.call_from_thread(self._poke)

    def _poke(self) -> None:
        if self._settle is not None:
            self._settle.stop()
        self._settle = self.set_timer(SETTLE, self._settled)

    def _settled(self) -> None:
        self._settle = None
        try:
            text = self.read_disk()
        except (OSError, UnicodeError):
            return  # unreadable for a moment (or not text); the next event tells us more
        if text != self.disk_text:  # our own saves land here too, and match
            self.post_message(self.DiskChanged(text))
