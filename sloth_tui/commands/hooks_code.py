"""Hooks as code: the folder `hook export DIR` writes and `hook import DIR` reads.

A folder holds one `hooks.toml` (each hook's settings, under `[hooks.NAME]`) and one Lua
file per hook (`file = "NAME.lua"`, relative to the folder). Nothing in it depends on
the machine or the moment: no ids, no run counts, no absolute paths, hooks sorted by
name, keys in a fixed order. So exporting the same registry twice gives the same bytes,
and a change to one hook is a change to its lines only (a clean git diff).

Reading is all or nothing: `read_folder` returns every problem it finds (one line each,
naming the file, the hook and the setting) beside what it could read, so an import can
refuse before it changes anything. The checks are the ones `hook add` and the engine
apply: model/rules for names and patterns, model/policy for the policy, the same ranges
for timeout and limits. The Lua files are compiled by the engine afterwards (the
command does that: it needs an engine).
"""

from __future__ import annotations

import math
import os
import stat
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import tomli_w

from sloth_tui.atomic_file import SHARED, write_atomically
from sloth_tui.model.errors import HookError, SlothError
from sloth_tui.model.policy import NO_POLICY, HookPolicy
from sloth_tui.model.records import Hook
from sloth_tui.model.rules import check_hook_name, check_pattern
from sloth_tui.user_path import resolved

HOOKS_FILE = "hooks.toml"
HEADER = (
    "# Hooks as code: written by `sloth-tui hook export`, read by `sloth-tui hook import DIR`.\n"
    "# One [hooks.NAME] table per hook; `file` is its Lua code, relative to this folder.\n"
    "\n"
)
MAX_TOML_BYTES = 4 * 1024 * 1024  # a hooks.toml past this is not one a person wrote
# The runtime refuses hook files past this size (lua/limits.MAX_FILE_BYTES, which a
# command may not import): a bigger file could never run, so it is refused on import.
MAX_CODE_BYTES = 4 * 1024 * 1024
# The ranges `hook add` and the engine's add_hook accept (commands/common.py, engine/
# hook_admin.py); repeated here so a folder is refused before anything is written.
MAX_TIMEOUT = 3600.0
MIN_INSTRUCTIONS = 1_000
MAX_INSTRUCTIONS = 10**12
MAX_MEMORY_MB = 4096
MAX_STACK = 256  # engine/events.CONTEXT_MAX: a stack name is an event's context text
SHOWN_MAX = 60  # characters of outside text quoted in a problem

# The settings a [hooks.NAME] table may have, in the order export writes them.
KEYS = (
    "file",
    "events",
    "description",
    "enabled",
    "timeout",
    "max_instructions",
    "max_memory_mb",
    "stack",
    "policy",
)


@dataclass(frozen=True, slots=True)
class HookSpec:
    """One hook as the folder describes it, checked."""

    name: str
    events: tuple[str, ...]
    file: str  # as written in hooks.toml: relative to the folder
    code: bytes
    description: str = ""
    enabled: bool = True
    timeout: float | None = None  # None: the engine's default (config hook_timeout)
    max_instructions: int | None = None
    max_memory_mb: int | None = None
    stack: str | None = None
    policy: HookPolicy = NO_POLICY


@dataclass(slots=True)
class Folder:
    """What `read_folder` found: the hooks it could read, and every problem."""

    toml_path: Path
    hooks: list[HookSpec] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# -- writing ------------------------------------------------------------------------------


def file_names(names: Iterable[str]) -> dict[str, str]:
    """Each hook's file name: NAME.lua, unless that name is already taken on a
    filesystem that ignores case (macOS, Windows): then NAME-2.lua and so on. Hook names
    are letters, digits, '-', '_' and '.', starting with a letter or digit
    (model/rules.py), so NAME.lua is always one plain file name, never hidden, never a
    path."""
    taken = {HOOKS_FILE.casefold()}
    out: dict[str, str] = {}
    for name in sorted(names):
        candidate, n = f"{name}.lua", 2
        while candidate.casefold() in taken:
            candidate, n = f"{name}-{n}.lua", n + 1
        taken.add(candidate.casefold())
        out[name] = candidate
    return out


def entry_of(hook: Hook, file: str) -> dict[str, Any]:
    """A hook's [hooks.NAME] table: its settings, none of its history (run counts, last
    run, created) and no path of this machine. Empty and default values are left out."""
    entry: dict[str, Any] = {"file": file, "events": list(hook.events)}
    if hook.description:
        entry["description"] = hook.description
    entry["enabled"] = hook.enabled
    entry["timeout"] = float(hook.timeout)
    if hook.max_instructions is not None:
        entry["max_instructions"] = hook.max_instructions
    if hook.max_memory_mb is not None:
        entry["max_memory_mb"] = hook.max_memory_mb
    if hook.stack:
        entry["stack"] = hook.stack
    policy = hook.policy.to_dict()
    if policy:
        entry["policy"] = policy
    return entry


def render(hooks: list[Hook], files: dict[str, str]) -> str:
    """hooks.toml's text: the header, then each hook by name."""
    table = {h.name: entry_of(h, files[h.name]) for h in sorted(hooks, key=lambda h: h.name)}
    return HEADER + (tomli_w.dumps({"hooks": table}) if table else "[hooks]\n")


def write_atomic(path: Path, data: bytes) -> bool:
    """Write `data` to `path` through a temporary file and a rename, so a reader (or a
    crash) never sees half a file. False when the file already held exactly these bytes
    (then it is not touched: its time stays, and git sees nothing)."""
    try:
        if path.is_file() and path.read_bytes() == data:
            return False
    except OSError:
        pass
    # 0644 always: mkstemp's 0600 would not survive a git checkout anyway. A file of
    # the export that is a symlink (into a config repo) stays one.
    write_atomically(path, data, mode=SHARED, follow_link=True)
    return True


def listed_files(toml_path: Path) -> set[str]:
    """The Lua files an earlier export's hooks.toml names ({} when it cannot be read):
    the files a new export may remove when their hook is gone."""
    try:
        raw = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return set()
    hooks = raw.get("hooks")
    out: set[str] = set()
    if isinstance(hooks, dict):
        for entry in hooks.values():
            file = entry.get("file") if isinstance(entry, dict) else None
            if isinstance(file, str) and _plain_lua_name(file):
                out.add(file)
    return out


def _plain_lua_name(file: str) -> bool:
    """One file name in the folder itself (what export writes), ending in .lua."""
    return (
        file.endswith(".lua")
        and "/" not in file
        and "\\" not in file
        and "\x00" not in file
        and not file.startswith(".")
    )


def copy_into(hooks_dir: Path, name: str, code: bytes, subdir: str) -> tuple[Path, bool]:
    """Copy a hook's code into `<hooks dir>/<subdir>/NAME.lua`: (the copy's path, whether
    this call created it). Never overwrites a file (a hook may point at it): the same
    bytes reuse it, other bytes go to NAME-2.lua and so on."""
    folder = hooks_dir / subdir
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for n in range(1, 1000):
        path = folder / (f"{name}.lua" if n == 1 else f"{name}-{n}.lua")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            try:
                if path.is_file() and path.read_bytes() == code:
                    return path, False
            except OSError:
                pass
            continue
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(code)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError:
            path.unlink(missing_ok=True)
            raise
        return path, True
    raise HookError(f"{folder}: no free file name for {name}")


# -- reading ------------------------------------------------------------------------------


def shown(value: object) -> str:
    """Outside text quoted in a problem: repr'd (so it is one line), and cut."""
    text = value if isinstance(value, str) else str(value)
    cut = text[:SHOWN_MAX]
    return repr(cut) + ("…" if len(text) > SHOWN_MAX else "")


def _kind(value: object) -> str:
    names = {dict: "a table", list: "a list", str: "text", bool: "true/false"}
    return names.get(type(value), type(value).__name__)


def read_bounded(path: Path, limit: int) -> tuple[bytes | None, str | None]:
    """The file's bytes, or why they cannot be had (one line): a regular file only (a
    FIFO would block, /dev/zero never end), and at most `limit` bytes."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None, "no such file"
    except (OSError, ValueError) as exc:
        return None, f"cannot read it: {getattr(exc, 'strerror', None) or exc}"
    if not stat.S_ISREG(st.st_mode):
        return None, "not a regular file"
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        return None, f"cannot read it: {exc.strerror or exc}"
    if len(data) > limit:
        return None, f"larger than {limit // (1024 * 1024)} MiB"
    return data, None


def read_folder(directory: Path) -> Folder:
    """Read and check hooks.toml and every Lua file it names (compiling is the
    caller's). Never raises for what the folder holds: each problem is one line."""
    toml_path = directory / HOOKS_FILE
    folder = Folder(toml_path)
    raw_bytes, why = read_bounded(toml_path, MAX_TOML_BYTES)
    if raw_bytes is None:
        hint = " (a folder `hook export` wrote has one)" if why == "no such file" else ""
        folder.problems.append(f"{toml_path}: {why}{hint}")
        return folder
    try:
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError as exc:
        folder.problems.append(f"{toml_path}: not UTF-8 text (byte {exc.start})")
        return folder
    except tomllib.TOMLDecodeError as exc:
        folder.problems.append(f"{toml_path}: not valid TOML: {exc}")
        return folder
    except RecursionError:
        folder.problems.append(f"{toml_path}: not valid TOML: nests too deeply")
        return folder
    for key in sorted(set(raw) - {"hooks"}):
        folder.problems.append(f"{toml_path}: unknown key {shown(key)} (only [hooks.NAME] tables)")
    hooks = raw.get("hooks", {})
    if not isinstance(hooks, dict):
        folder.problems.append(f"{toml_path}: hooks is {_kind(hooks)}, not a table of hooks")
        return folder
    root = resolved(directory)
    for name, entry in hooks.items():
        problems: list[str] = []
        spec = _read_hook(name, entry, directory, root, problems)
        folder.problems += [f"{toml_path}: hook {shown(name)}: {p}" for p in problems]
        if spec is not None and not problems:
            folder.hooks.append(spec)
    folder.hooks.sort(key=lambda s: s.name)
    return folder


def _read_hook(
    name: str, entry: Any, directory: Path, root: Path, problems: list[str]
) -> HookSpec | None:
    """One [hooks.NAME] table, checked; every problem appended (none: the spec)."""
    try:
        check_hook_name(name)
    except SlothError:
        problems.append(
            "not a hook name (letters, digits, '-', '_' or '.', starting with a letter "
            "or digit, at most 64 characters)"
        )
    if not isinstance(entry, dict):
        problems.append(f"is {_kind(entry)}, not a table of settings")
        return None
    for key in sorted(set(entry) - set(KEYS)):
        problems.append(f"unknown setting {shown(key)} (use {', '.join(KEYS)})")
    events = _events(entry.get("events"), problems)
    description = entry.get("description", "")
    if not isinstance(description, str):
        problems.append(f"description: text, not {_kind(description)}")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(f"enabled: true or false, not {_kind(enabled)}")
    timeout = _timeout(entry.get("timeout"), problems)
    max_instructions = _whole(
        "max_instructions", entry.get("max_instructions"), MIN_INSTRUCTIONS, MAX_INSTRUCTIONS,
        problems,
    )  # fmt: skip
    max_memory_mb = _whole("max_memory_mb", entry.get("max_memory_mb"), 1, MAX_MEMORY_MB, problems)
    stack = _stack(entry.get("stack"), problems)
    policy = NO_POLICY
    try:
        policy = HookPolicy.from_dict(entry.get("policy"))
    except SlothError as exc:
        problems.append(f"policy: {exc}")
    except (TypeError, ValueError, OverflowError) as exc:  # a value of an unforeseen kind
        problems.append(f"policy: not a valid policy ({type(exc).__name__})")
    file = entry.get("file", f"{name}.lua")
    code = _code(file, directory, root, problems)
    if problems or code is None:
        return None
    return HookSpec(
        name=name,
        events=events,
        file=file,
        code=code,
        description=description,
        enabled=enabled,
        timeout=timeout,
        max_instructions=max_instructions,
        max_memory_mb=max_memory_mb,
        stack=stack,
        policy=policy,
    )


def _events(value: Any, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        problems.append('events: missing (a list of types or globs, like ["deploy.*"])')
        return ()
    if not isinstance(value, list) or not value:
        problems.append(f"events: a non-empty list of types or globs, not {_kind(value)}")
        return ()
    out: list[str] = []
    for pattern in value:
        if not isinstance(pattern, str):
            problems.append(f"events: {shown(pattern)} is {_kind(pattern)}, not a type or glob")
            continue
        try:
            out.append(check_pattern(pattern))
        except SlothError:
            problems.append(
                f"events: {shown(pattern)} is not an event type or glob (deploy.failed, "
                "deploy.*, *.failed, *)"
            )
    return tuple(dict.fromkeys(out))  # as the engine stores them: each once, in order


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _timeout(value: Any, problems: list[str]) -> float | None:
    if value is None:
        return None
    if not _number(value) or not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT:
        problems.append(f"timeout: seconds, more than 0 and at most 3600, not {shown(value)}")
        return None
    return float(value)


def _whole(name: str, value: Any, low: int, high: int, problems: list[str]) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        problems.append(f"{name}: a whole number from {low} to {high}, not {shown(value)}")
        return None
    return value


def _stack(value: Any, problems: list[str]) -> str | None:
    """The rule an event's stack follows (engine/events.check_context): one line of
    text, at most 256 characters; "" is none."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.append(f"stack: text, not {_kind(value)}")
        return None
    if len(value) > MAX_STACK or any(c < " " or c == "\x7f" for c in value):
        problems.append(f"stack: one line of text, at most {MAX_STACK} characters")
        return None
    return value


def _code(file: Any, directory: Path, root: Path, problems: list[str]) -> bytes | None:
    """The Lua file's bytes: a path relative to the folder that stays inside it."""
    if not isinstance(file, str) or not file:
        problems.append(f"file: a file name relative to the folder, not {_kind(file)}")
        return None
    if "\x00" in file or PurePosixPath(file).is_absolute() or ".." in PurePosixPath(file).parts:
        problems.append(f"file: {shown(file)} is not a path inside the folder")
        return None
    path = directory / file
    try:
        inside = resolved(path).is_relative_to(root)
    except (OSError, RuntimeError):  # a symlink loop
        inside = False
    if not inside:
        problems.append(f"file: {shown(file)} leads outside the folder")
        return None
    data, why = read_bounded(path, MAX_CODE_BYTES)
    if data is None:
        problems.append(f"file {shown(file)}: {why}")
    return data


# -- comparing ----------------------------------------------------------------------------


def changed_fields(
    spec: HookSpec, hook: Hook, current_code: bytes | None, default_timeout: float
) -> list[str]:
    """The settings of `hook` (the registry's) that differ from `spec` (the folder's),
    in KEYS order, `code` last (None for current_code: its file cannot be read)."""
    timeout = default_timeout if spec.timeout is None else spec.timeout
    pairs: list[tuple[str, object, object]] = [
        ("events", list(spec.events), list(hook.events)),
        ("description", spec.description, hook.description),
        ("enabled", spec.enabled, hook.enabled),
        ("timeout", timeout, hook.timeout),
        ("max_instructions", spec.max_instructions, hook.max_instructions),
        ("max_memory_mb", spec.max_memory_mb, hook.max_memory_mb),
        ("stack", spec.stack, hook.stack),
        ("policy", spec.policy, hook.policy),
    ]
    out = [name for name, want, have in pairs if want != have]
    if current_code != spec.code:
        out.append("code")
    return out


def changes_for(spec: HookSpec, fields: list[str], default_timeout: float) -> dict[str, Any]:
    """update_hook's keyword arguments for the fields that differ (code is the caller's:
    it becomes a file)."""
    values: dict[str, Any] = {
        "events": list(spec.events),
        "description": spec.description,
        "enabled": spec.enabled,
        "timeout": default_timeout if spec.timeout is None else spec.timeout,
        "max_instructions": spec.max_instructions,
        "max_memory_mb": spec.max_memory_mb,
        "stack": spec.stack,
        "policy": spec.policy,
    }
    return {name: values[name] for name in fields if name in values}
