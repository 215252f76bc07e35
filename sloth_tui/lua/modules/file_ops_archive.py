"""file_ops.unarchive: tar, tar.gz and zip, every member checked before one is written.

A member with an absolute path, a `..` part, a link whose target leaves `dest`, a
hard link, a device or fifo refuses the whole archive (zip-slip and its tar
cousins), as do more than ARCHIVE_MEMBERS_MAX members or more than the size cap in
total (read from the headers, and enforced again while copying). Links inside
`dest` are kept; a file is never written through one (O_NOFOLLOW, and its parent
must resolve inside `dest`).
"""

from __future__ import annotations

import os
import posixpath
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import IO

from sloth_tui.lua.limits import ARCHIVE_MEMBERS_MAX, size_text
from sloth_tui.lua.modules.base import HostError
from sloth_tui.lua.modules.file_ops_paths import Refused, inside

_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Member:
    name: str  # normalised, relative to dest
    kind: str  # "file", "dir", "symlink"
    size: int
    target: str = ""  # a symlink's target


def kind_of(src: str) -> str:
    lower = src.lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith((".tar.gz", ".tgz", ".gz")):
        return "tar.gz"
    if lower.endswith(".tar"):
        return "tar"
    raise HostError(f"unsupported archive format: {posixpath.splitext(src)[1] or src}")


def _checked_name(raw: str) -> str:
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise Refused(f"archive member {raw!r}: absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Refused(f"archive member {raw!r}: '..' is not allowed")
    if not parts:
        raise Refused(f"archive member {raw!r}: empty name")
    return "/".join(parts)


def _checked_link(name: str, target: str) -> str:
    """A symlink member stays only when its target is relative and has no `..`: then
    every link, however chained, resolves downwards from where it sits, inside dest
    (a lexical check of `a -> b/../x` is fooled when b is itself a link to `.`)."""
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if not target or target.startswith("/") or joined == ".." or joined.startswith("../"):
        raise Refused(f"archive member {name!r}: link to {target!r} leaves dest")
    if ".." in target.split("/"):
        raise Refused(f"archive member {name!r}: link to {target!r}: '..' in a link is refused")
    return target


def _inside_dest(dest: str, path: str, name: str) -> None:
    """Before creating anything at `path`: what already exists on its way (a link
    left by an earlier run, say) must not lead out of dest."""
    if not inside(os.path.realpath(path), dest):
        raise Refused(f"archive member {name!r}: its path leads out of dest through a link")


# A member and how to open its bytes (None for directories and links).
Entry = tuple[Member, Callable[[], IO[bytes] | None]]


def _tar_members(tf: tarfile.TarFile) -> list[Entry]:
    out: list[Entry] = []
    for info in tf:
        if len(out) >= ARCHIVE_MEMBERS_MAX:
            raise HostError(f"archive has more than {ARCHIVE_MEMBERS_MAX} members")
        name = _checked_name(info.name)
        if info.isdir():
            member = Member(name, "dir", 0)
        elif info.isreg():
            member = Member(name, "file", info.size)
        elif info.issym():
            member = Member(name, "symlink", 0, _checked_link(name, info.linkname))
        elif info.islnk():
            raise Refused(f"archive member {info.name!r}: hard links are not unpacked")
        else:
            raise Refused(f"archive member {info.name!r}: devices and fifos are not unpacked")
        out.append((member, partial(tf.extractfile, info)))
    return out


def _zip_members(zf: zipfile.ZipFile) -> list[Entry]:
    infos = zf.infolist()
    if len(infos) > ARCHIVE_MEMBERS_MAX:
        raise HostError(f"archive has more than {ARCHIVE_MEMBERS_MAX} members")
    out: list[Entry] = []
    for info in infos:
        name = _checked_name(info.filename)
        unix_mode = info.external_attr >> 16
        if info.is_dir():
            member = Member(name, "dir", 0)
        elif unix_mode and (unix_mode & 0o170000) == 0o120000:
            target = zf.read(info)[:4096].decode("utf-8", "replace")
            member = Member(name, "symlink", 0, _checked_link(name, target))
        else:
            member = Member(name, "file", info.file_size)
        out.append((member, partial(zf.open, info)))
    return out


def _copy(src: IO[bytes], dst: IO[bytes], left: int, label: str) -> int:
    copied = 0
    while chunk := src.read(_CHUNK):
        copied += len(chunk)
        if copied > left:  # the header lied (or a zip bomb): stop at the cap
            raise HostError(f"{label}: unpacks to more than the size cap")
        dst.write(chunk)
    return copied


def _open_target(dest: str, name: str) -> IO[bytes]:
    path = os.path.join(dest, name)
    parent = os.path.dirname(path)
    _inside_dest(dest, parent, name)
    os.makedirs(parent, mode=0o755, exist_ok=True)
    if os.path.islink(path):
        os.unlink(path)  # replaced, never written through
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    return os.fdopen(os.open(path, flags, 0o644), "wb")


@contextmanager
def _entries(src: str, cap: int) -> Iterator[list[Entry]]:
    """Every member of the archive at `src`, checked (names, links, count, total size)."""
    kind = kind_of(src)
    try:
        if kind == "zip":
            with zipfile.ZipFile(src) as zf:
                entries = _zip_members(zf)
                _check_total(entries, cap)
                yield entries
        else:
            with tarfile.open(src, "r:gz" if kind == "tar.gz" else "r:") as tf:
                entries = _tar_members(tf)
                _check_total(entries, cap)
                yield entries
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise HostError(f"cannot read {kind} archive: {exc}") from None


def _check_total(entries: list[Entry], cap: int) -> None:
    total = sum(m.size for m, _ in entries)
    if total > cap:
        raise HostError(f"archive unpacks to {total:,} bytes, over the {size_text(cap)} cap")


def members(src: str, cap: int) -> list[Member]:
    """Every member, checked; HostError/Refused when one is refused or too big."""
    with _entries(src, cap) as entries:
        return [m for m, _ in entries]


def extract(src: str, dest: str, cap: int) -> list[Member]:
    """Unpack into `dest` (resolved, inside the roots) after checking every member."""
    with _entries(src, cap) as entries:
        os.makedirs(dest, mode=0o755, exist_ok=True)
        left = cap
        for member, opener in entries:
            path = os.path.join(dest, member.name)
            if member.kind == "dir":
                _inside_dest(dest, path, member.name)
                os.makedirs(path, mode=0o755, exist_ok=True)
            elif member.kind == "symlink":
                _inside_dest(dest, os.path.dirname(path), member.name)
                os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
                if os.path.lexists(path):
                    os.unlink(path)
                os.symlink(member.target, path)
            else:
                stream = opener()
                if stream is None:
                    continue
                with stream, _open_target(dest, member.name) as out:
                    left -= _copy(stream, out, left, f"archive member {member.name!r}")
        return [m for m, _ in entries]
