"""Editing the [[watchers]] of config.toml for `sloth-tui watch add/remove`.

The file is edited as text, block by block, so comments and every other
setting stay exactly as the user wrote them; the result is parsed back and
compared with what was meant before it replaces the file (atomically).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from sloth_tui.atomic_file import PRIVATE, write_atomically
from sloth_tui.config import ConfigError, WatcherSettings

_HEADER = re.compile(r"^\s*\[")
_WATCHERS_HEADER = re.compile(r"^\s*\[\[\s*watchers\s*\]\]\s*(#.*)?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_watcher_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid watcher name {name!r}: use letters, digits, '-', '_' or '.', "
            "at most 64 characters"
        )
    return name


def toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def watcher_block(w: WatcherSettings) -> str:
    def array(items: tuple[str, ...]) -> str:
        return "[" + ", ".join(toml_string(i) for i in items) + "]"

    return (
        "[[watchers]]\n"
        f"name = {toml_string(w.name)}\n"
        f"path = {toml_string(w.path)}\n"
        f"recursive = {'true' if w.recursive else 'false'}\n"
        f"patterns = {array(w.patterns)}\n"
        f"ignore = {array(w.ignore)}\n"
    )


def _parse(text: str, path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _write_atomically(path: Path, text: str) -> None:
    # A config.toml linked from a dotfiles repo stays linked; a new one is private (it
    # may come to hold [nats] credentials).
    write_atomically(path, text, mode=PRIVATE, keep_mode=True, follow_link=True)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def add_watcher(config_file: Path, watcher: WatcherSettings) -> None:
    check_watcher_name(watcher.name)
    text = _read(config_file)
    before = _parse(text, config_file)
    names = [w.get("name") for w in before.get("watchers", []) if isinstance(w, dict)]
    if watcher.name in names:
        raise ConfigError(f"a watcher named {watcher.name!r} already exists (remove it first)")
    sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    new_text = text + sep + watcher_block(watcher)
    after = _parse(new_text, config_file)
    expected = dict(before, watchers=[*before.get("watchers", []), _as_dict(watcher)])
    if after != expected:
        raise ConfigError(
            f"cannot add a [[watchers]] block to {config_file} safely; edit it by hand"
        )
    _write_atomically(config_file, new_text)


def remove_watcher(config_file: Path, name: str) -> None:
    text = _read(config_file)
    before = _parse(text, config_file)
    watchers = before.get("watchers", [])
    if not any(isinstance(w, dict) and w.get("name") == name for w in watchers):
        raise ConfigError(f"no watcher named {name!r} in {config_file}")
    lines = text.splitlines(keepends=True)
    start = None
    for i, line in enumerate([*lines, "[end]"]):
        if start is not None and _HEADER.match(line):
            block = "".join(lines[start:i])
            if _parse(block, config_file)["watchers"][0].get("name") == name:
                new_text = "".join(lines[:start] + lines[i:])
                break
            start = None
        if i < len(lines) and _WATCHERS_HEADER.match(line):
            start = i
    else:
        raise ConfigError(
            f"cannot find the [[watchers]] block of {name!r} in {config_file}; edit it by hand"
        )
    expected = dict(before, watchers=[w for w in watchers if w.get("name") != name])
    if not expected["watchers"]:
        del expected["watchers"]
    if _parse(new_text, config_file) != expected:
        raise ConfigError(
            f"cannot remove watcher {name!r} from {config_file} safely; edit it by hand"
        )
    _write_atomically(config_file, new_text)


def _as_dict(w: WatcherSettings) -> dict[str, Any]:
    return {
        "name": w.name,
        "path": w.path,
        "recursive": w.recursive,
        "patterns": list(w.patterns),
        "ignore": list(w.ignore),
    }
