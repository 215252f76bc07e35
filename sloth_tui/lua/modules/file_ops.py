"""`file_ops`: upstream Sloth Runner's file module (copy, fetch, template,
lineinfile, blockinfile, replace, unarchive, stat), confined to the file roots.

Same option names and answers as upstream (internal/luainterface/file_ops.go):
`true, result` on success (stat: `result` alone, `{exists = false}` for a missing
path), `nil, err` on failure, never a raised error. What is added is the fence:

- every path must be absolute, without `..`, and resolve (symlinks followed)
  inside Limits.file_roots (config `[sandbox] file_roots`); anything else is
  refused, and the refusal recorded (file_ops_paths.py);
- sizes are capped (Limits.file_bytes for copies and archives, FILE_TEXT_MAX for
  edits), from the size on disk before a byte is read;
- `unarchive` checks every member first (file_ops_archive.py);
- `template` does `{{.key}}` / `{{.a.b}}` only (file_ops_text.py).

Every call lands in the run's `calls` as {fn, path or src/dest, changed, diff,
error, refused, dry_run}. A dry run reads what it needs, writes nothing, and
records what it would have changed (a unified diff for the text edits).

`fetch` is upstream's too: it is a plain local copy there ("would need agent
integration for remote"), so it is one here, without copy's identical-file check.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import stat as stat_mod
from collections.abc import Callable
from typing import Any

from sloth_tui.lua.context import RunContext
from sloth_tui.lua.convert import clip
from sloth_tui.lua.limits import FILE_TEXT_MAX, RECORD_TEXT_MAX, size_text
from sloth_tui.lua.modules import file_ops_archive as archive
from sloth_tui.lua.modules import file_ops_text as text
from sloth_tui.lua.modules.base import (
    HostCall,
    HostError,
    HostModule,
    lua_file,
    plain_bridge,
    plain_failure,
)
from sloth_tui.lua.modules.file_ops_paths import Refused, confine, write_file

Opts = dict[str, Any]
Record = dict[str, Any]
Op = Callable[[RunContext, Opts, Record], dict[str, Any]]


# -- helpers ----------------------------------------------------------------------


def _path(ctx: RunContext, opts: Opts, key: str, rec: Record) -> str:
    raw = opts.get(key)
    if isinstance(raw, str):
        rec[key] = clip(raw, 4096)
    return confine(raw, key, ctx.limits.file_roots)


def _size_checked(path: str, cap: int, what: str) -> os.stat_result:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise HostError(f"{what} not found: {path}") from None
    if not stat_mod.S_ISREG(st.st_mode):
        raise HostError(f"{what} is not a regular file: {path}")
    if st.st_size > cap:
        raise HostError(f"{what} is {st.st_size:,} bytes, over the {size_text(cap)} cap: {path}")
    return st


def _read_text(path: str, create: bool = True) -> str | None:
    """The file's text; "" when missing (None when missing and `create` is false)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "" if create else None
    if not stat_mod.S_ISREG(st.st_mode):
        raise HostError(f"not a regular file: {path}")
    if st.st_size > FILE_TEXT_MAX:
        raise HostError(
            f"file is {st.st_size:,} bytes, over the {size_text(FILE_TEXT_MAX)} cap for edits"
        )
    with open(path, "rb") as f:
        return f.read(FILE_TEXT_MAX + 1).decode("utf-8", "surrogateescape")


def _mode(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    digits = str(int(raw)) if isinstance(raw, int | float) else str(raw)
    try:
        mode = int(digits, 8)
    except ValueError:
        raise HostError(f"mode {digits!r} is not an octal number") from None
    if not 0 <= mode <= 0o7777:
        raise HostError(f"mode {digits!r} is out of range")
    return mode


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 16):
            h.update(chunk)
    return h.hexdigest()


def _edit(ctx: RunContext, path: str, old: str, new: str, rec: Record) -> bool:
    """Record the diff and, in a real run, write `new`: whether anything changed."""
    changed = old != new
    rec["changed"] = changed
    if changed:
        rec["diff"] = clip(text.diff(path, old, new), RECORD_TEXT_MAX)
        if not ctx.dry_run:
            write_file(path, new.encode("utf-8", "surrogateescape"), None)
    return changed


def _state(opts: Opts) -> str:
    state = opts.get("state") or "present"
    if state not in ("present", "absent"):
        raise HostError(f"state must be 'present' or 'absent', not {state!r}")
    return str(state)


def _done(ctx: RunContext, result: dict[str, Any]) -> dict[str, Any]:
    if ctx.dry_run:
        result["dry_run"] = True
    return result


# -- the calls ----------------------------------------------------------------------


def _copy_file(ctx: RunContext, opts: Opts, rec: Record, check_same: bool) -> dict[str, Any]:
    src = _path(ctx, opts, "src", rec)
    dest = _path(ctx, opts, "dest", rec)
    st = _size_checked(src, ctx.limits.file_bytes, "source file")
    mode = _mode(opts.get("mode"))
    result: dict[str, Any] = {"src": src, "dest": dest, "size": st.st_size}
    rec["size"] = st.st_size
    same_size = check_same and os.path.isfile(dest) and os.path.getsize(dest) == st.st_size
    if same_size and _sha256(src) == _sha256(dest):
        rec["changed"] = False
        result.update(changed=False, message="Files are identical, no copy needed")
        return _done(ctx, result)
    rec["changed"] = True
    if not ctx.dry_run:
        with open(src, "rb") as f:
            data = f.read(ctx.limits.file_bytes + 1)
        if len(data) > ctx.limits.file_bytes:  # grew since the stat
            raise HostError(f"source file grew past the {size_text(ctx.limits.file_bytes)} cap")
        write_file(dest, data, mode if mode is not None else st.st_mode & 0o7777)
    result["changed"] = True
    return _done(ctx, result)


def copy(ctx: RunContext, opts: Opts, rec: Record) -> dict[str, Any]:
    return _copy_file(ctx, opts, rec, check_same=True)


def fetch(ctx: RunContext, opts: Opts, rec: Record) -> dict[str, Any]:
    return _copy_file(ctx, opts, rec, check_same=False)


def template(ctx: RunContext, opts: Opts, rec: Record) -> dict[str, Any]:
    src = _path(ctx, opts, "src", rec)
    dest = _path(ctx, opts, "dest", rec)
    _size_checked(src, FILE_TEXT_MAX, "template")
    with open(src, "rb") as f:
        source = f.read(FILE_TEXT_MAX + 1).decode("utf-8", "surrogateescape")
    rendered = text.template(source, opts.get("vars"))
    old = _read_text(dest) or ""
    _edit(ctx, dest, old, rendered, rec)
    # Upstream always answers changed = true for a template; here it says what happened.
    return _done(ctx, {"changed": rec["changed"], "src": src, "dest": dest})


def lineinfile(ctx: RunContext, opts: Opts, rec: Record) -> dict[str, Any]:
    path = _path(ctx, opts, "path", rec)
    line = opts.get("line")
    if not isinstance(line, str) or line == "":
        raise HostError("line parameter is required")
    if "\n" in line:
        raise HostError("line must be a single line (no newline)")
    old = _read_text(path, create=opts.get("create") is not False)
    if old is None:
        rec["changed"] = False
        return _done(ctx, {"changed": False, "path": path, "message": "file does not exist"})
    new = text.lineinfile(old, line, _state(opts), opts.get("regexp"), ctx.deadline)
    return _done(ctx, {"changed": _edit(ctx, path, old, new, rec), "path": path})


def blockinfile(ctx: RunContext, opts: Opts, rec: Record) -> dict[str, Any]:
    path = _path(ctx, opts, "path", rec)
    state = _state(opts)
    block = opts.get("block")
    if state == "present" and (not isinstance(block, str) or block == ""):
        raise HostError("block parameter is required when state is present")
    begin = opts.get("marker_begin") or "# BEGIN MANAGED BLOCK"
    end = opts.get("marker_end") or "# END MANAGED BLOCK"
    old = _read_text(path) or ""
    new = text.blockinfile(old, str(block or ""), state, str(begin), str(end))
    return _done(ctx, {"changed": _edit(ctx, path, old, new, rec), "path": path})


def replace(ctx: RunContext, opts: Opts, rec: Record) -> dict[str, Any]:
    path = _path(ctx, opts, "path", rec)
    pattern = opts.get("pattern")
    if not isinstance(pattern, str) or pattern == "":
        raise HostError("pattern parameter is required")
    replacement = opts.get("replacement")
    if not isinstance(replacement, str):
        raise HostError("replacement parameter is required")
    old = _read_text(path, create=False)
    if old is None:
        raise HostError(f"failed to read file: no such file: {path}")
    new = text.replace(old, pattern, replacement, ctx.deadline)
    return _done(ctx, {"changed": _edit(ctx, path, old, new, rec), "path": path})


def unarchive(ctx: RunContext, opts: Opts, rec: Record) -> dict[str, Any]:
    src = _path(ctx, opts, "src", rec)
    dest = _path(ctx, opts, "dest", rec)
    _size_checked(src, ctx.limits.file_bytes, "archive")
    if ctx.dry_run:
        listed = archive.members(src, ctx.limits.file_bytes)
    else:
        listed = archive.extract(src, dest, ctx.limits.file_bytes)
    rec["changed"] = True
    rec["members"] = [m.name for m in listed[:100]]
    rec["member_count"] = len(listed)
    return _done(ctx, {"changed": True, "src": src, "dest": dest, "files": len(listed)})


def stat(ctx: RunContext, opts: Opts, rec: Record) -> dict[str, Any]:
    path = _path(ctx, opts, "path", rec)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {"exists": False}
    is_file = stat_mod.S_ISREG(st.st_mode)
    # Upstream always hashes; here only files under the copy cap, so stat stays cheap.
    checksum = _sha256(path) if is_file and st.st_size <= ctx.limits.file_bytes else ""
    result: dict[str, Any] = {
        "exists": True, "path": path, "size": st.st_size, "mode": f"{st.st_mode & 0o777:o}",
        "is_dir": stat_mod.S_ISDIR(st.st_mode), "is_file": is_file, "mtime": int(st.st_mtime),
        "checksum": checksum, "uid": st.st_uid, "gid": st.st_gid,
    }  # fmt: skip
    try:
        result["owner"] = pwd.getpwuid(st.st_uid).pw_name
        result["group"] = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        pass
    return result


# -- wiring -----------------------------------------------------------------------


def recorded(name: str, op: Op) -> Callable[[RunContext, Any], Any]:
    """`op` as a plain call: options checked, the call recorded however it ends, and
    failures turned into HostError (`nil, "file_ops.<name>: ..."` in Lua)."""

    def call(ctx: RunContext, opts: Any = None) -> Any:
        rec: Record = {"fn": f"file_ops.{name}", "dry_run": ctx.dry_run}
        try:
            if opts == []:  # an empty Lua table arrives as a JSON array
                opts = {}
            if not isinstance(opts, dict):
                raise HostError("options must be a table")
            return op(ctx, opts, rec)
        except Refused as exc:
            rec.update(error=str(exc), refused=True, changed=False)
            raise
        except HostError as exc:
            rec.update(error=str(exc), changed=False)
            raise
        except (OSError, ValueError, UnicodeError) as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            rec.update(error=message, changed=False)
            raise HostError(message) from None
        finally:
            rec.setdefault("changed", False)
            ctx.record(rec)

    return call


_OPS: dict[str, Op] = {
    "copy": copy,
    "fetch": fetch,
    "template": template,
    "lineinfile": lineinfile,
    "blockinfile": blockinfile,
    "replace": replace,
    "unarchive": unarchive,
    "stat": stat,
}


def _call(name: str, op: Op) -> HostCall:
    # One function for both: each op asks ctx.dry_run before it writes.
    bridged = plain_bridge("file_ops", name, recorded(name, op))
    return HostCall(bridged, dry_run=bridged, failure=plain_failure("file_ops", name))


FILE_OPS = HostModule(
    name="file_ops",
    calls={name: _call(name, op) for name, op in _OPS.items()},
    limits=("file_roots", "file_bytes", "host_memory"),
    lua=lua_file(__name__, "file_ops.lua"),
    # Upstream's hook executor defines `contains` beside file_ops; its wrapper adds it.
    provides=("contains",),
    doc=(
        "file_ops.copy/fetch/template/lineinfile/blockinfile/replace/unarchive/stat, confined"
        " to [sandbox] file_roots; a dry run records diffs and writes nothing"
    ),
)
