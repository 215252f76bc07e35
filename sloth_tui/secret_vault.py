"""The secret vault: named values for hooks, encrypted at rest.

Two files:

- the key, `secrets.key` in the config dir: one Fernet key (cryptography), created
  0600 with O_CREAT|O_EXCL the first time a value is stored. A key file another user
  could read, or that is not a Fernet key (tampered, truncated), is refused in one line.
- the vault, `secrets.json` in the data dir: {name: {token, created, updated, rotated,
  expires, rotate_after_days}}, `token` being the Fernet token of the value. Written
  whole to a temporary file (0600) and renamed over the old one, under a lock.

Why a file of its own and not a table in sloth.db: the store is copied by backups,
read by `doctor`, opened by every command and, attached, by the daemon; keeping the
values out of it means no copy of the store ever holds one, even encrypted. The key
lives in the config dir, so with the default layout a backup of the data dir holds
ciphertext without its key. (With --home both are in the same dir: the key is then
only as safe as that dir.)

Everything but the values (names, dates) is readable without the key: `secret list`
and the due-date source (sources/secret_due.py) never touch it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken

from sloth_tui.atomic_file import PRIVATE, create_exclusively, write_atomically
from sloth_tui.model.errors import NotFound, SlothError

if TYPE_CHECKING:
    from sloth_tui.config import Settings

KEY_FILE = "secrets.key"
VAULT_FILE = "secrets.json"
LOCK_FILE = "secrets.lock"
DUE_FILE = "secrets-due.json"  # which due states were announced (sources/secret_due.py)

# A name is what hooks pass to secret.get and what shows in "[secret:NAME]": a safe
# charset only, so it is never markup, never a path, never needs escaping.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
NAME_RULE = "1-64 characters: letters, digits, '_', '.', '-', starting with a letter or digit"

# A value shorter than this could not be redacted from a run's record without
# shredding it (a 3-character value occurs in every other log line), so the vault
# refuses it: every stored value is one the redaction can hold to (lua/redact.py).
MIN_VALUE = 8
MAX_VALUE = 64 * 1024  # characters: a PEM bundle fits; more is not a secret, it is a file
DAY = 86400.0


class VaultError(SlothError):
    """A one-line problem with the vault or its key: names the file."""


class SecretExpired(SlothError):
    """The secret exists but its expiry date has passed."""


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """Everything about a secret but its value."""

    name: str
    created: float
    updated: float
    rotated: float | None = None  # last `secret rotate`
    expires: float | None = None
    rotate_after_days: int | None = None

    @property
    def rotation_due(self) -> float | None:
        """When rotation is due: rotate_after_days after the last rotation (or creation)."""
        if self.rotate_after_days is None:
            return None
        return (self.rotated or self.created) + self.rotate_after_days * DAY

    def expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires

    def needs_rotation(self, now: float) -> bool:
        due = self.rotation_due
        return due is not None and now >= due

    def state(self, now: float) -> str:
        if self.expired(now):
            return "expired"
        if self.needs_rotation(now):
            return "rotation_needed"
        return "ok"

    def to_json(self, now: float) -> dict[str, Any]:
        return {**asdict(self), "rotation_due": self.rotation_due, "state": self.state(now)}


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        shown = repr(name) if isinstance(name, str) and len(name) <= 80 else "the name given"
        raise VaultError(f"bad secret name {shown}: {NAME_RULE}")
    return name


def check_value(value: str) -> str:
    if not isinstance(value, str):
        raise VaultError("a secret value must be text")
    if len(value) < MIN_VALUE:
        raise VaultError(
            f"a secret value must be at least {MIN_VALUE} characters (shorter ones cannot be"
            " kept out of hook logs without shredding them)"
        )
    if len(value) > MAX_VALUE:
        raise VaultError(f"a secret value may be at most {MAX_VALUE} characters")
    if not value.strip():
        raise VaultError("a secret value cannot be only whitespace")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise VaultError("a secret value must be valid UTF-8 text") from None
    return value


def iso(ts: float | None) -> str:
    """UTC, to the second: how dates show in events."""
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Vault:
    """The vault of one data dir. Every call reads the files afresh (they are small), so
    the CLI, the daemon and its hooks always see the same values."""

    def __init__(self, vault_path: Path, key_path: Path) -> None:
        self.path = vault_path
        self.key_path = key_path
        self.lock_path = vault_path.with_name(LOCK_FILE)

    @classmethod
    def for_settings(cls, settings: Settings) -> Vault:
        return cls(settings.home / VAULT_FILE, settings.config_dir / KEY_FILE)

    # -- the key ---------------------------------------------------------------------
    def _fernet(self, *, create: bool) -> Fernet:
        path = self.key_path
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            if not create:
                raise VaultError(f"{path}: key file missing: the vault cannot be read") from None
            return self._create_key()
        except OSError as exc:
            raise VaultError(f"{path}: cannot open the key file: {exc.strerror or exc}") from None
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise VaultError(f"{path}: the key file is not a regular file")
            if st.st_uid != os.getuid():
                raise VaultError(f"{path}: the key file belongs to another user")
            if st.st_mode & 0o077:
                raise VaultError(
                    f"{path}: the key file is readable by others (mode"
                    f" {stat.S_IMODE(st.st_mode):04o}): chmod 600 it, and consider the"
                    " secrets exposed"
                )
            raw = fh.read(4096)
        if not raw.strip() and create:
            # Empty, and no value stored (`create` is only asked for an empty vault): a
            # key whose making failed before this version wrote keys whole. Nothing
            # can depend on it, so a new one takes its place.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return self._create_key()
        try:
            return Fernet(raw.strip())
        except (ValueError, TypeError):
            raise VaultError(f"{path}: not a valid key file (tampered or truncated)") from None

    def _create_key(self) -> Fernet:
        key = Fernet.generate_key()
        try:
            self.key_path.parent.mkdir(parents=True, exist_ok=True)
            # Whole or not at all: a key file left empty by a full disk would refuse
            # every later `secret set` as a damaged key.
            made = create_exclusively(self.key_path, key + b"\n", mode=PRIVATE)
        except OSError as exc:
            raise VaultError(
                f"{self.key_path}: cannot create the key file: {exc.strerror or exc}"
            ) from None
        if not made:  # another process made it first: use that one
            return self._fernet(create=False)
        return Fernet(key)

    # -- the vault file ----------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time (the CLI, the daemon's due-date source)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise VaultError(f"{self.lock_path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise VaultError(f"{self.path}: cannot read the vault: {exc}") from None
        try:
            raw = json.loads(text)
        except ValueError:
            raise VaultError(f"{self.path}: not a vault file (not JSON)") from None
        if not isinstance(raw, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) and isinstance(v.get("token"), str)
            for k, v in raw.items()
        ):
            raise VaultError(f"{self.path}: not a vault file (unexpected shape)")
        return raw

    def _save(self, entries: dict[str, dict[str, Any]]) -> None:
        """Whole or not at all (0600, fsynced, renamed over the old one)."""
        try:
            write_atomically(self.path, json.dumps(entries, indent=1, sort_keys=True))
        except OSError as exc:
            raise VaultError(
                f"{self.path}: cannot write the vault: {exc.strerror or exc}"
            ) from None

    @staticmethod
    def _info(name: str, entry: dict[str, Any]) -> SecretInfo:
        def num(key: str) -> float | None:
            value = entry.get(key)
            return float(value) if isinstance(value, int | float) else None

        days = entry.get("rotate_after_days")
        return SecretInfo(
            name=name,
            created=num("created") or 0.0,
            updated=num("updated") or num("created") or 0.0,
            rotated=num("rotated"),
            expires=num("expires"),
            rotate_after_days=days if isinstance(days, int) and days > 0 else None,
        )

    # -- reading -----------------------------------------------------------------------
    def entries(self) -> list[SecretInfo]:
        """Every secret's dates, by name; the key is not needed."""
        return [self._info(n, e) for n, e in sorted(self._load().items())]

    def info(self, name: str) -> SecretInfo:
        entry = self._load().get(check_name(name))
        if entry is None:
            raise NotFound(f"no secret named {name!r}")
        return self._info(name, entry)

    def get(self, name: str, now: float | None = None) -> str:
        """The value. NotFound, SecretExpired, or VaultError (key missing, wrong, bad)."""
        entry = self._load().get(check_name(name))
        if entry is None:
            raise NotFound(f"no secret named {name!r}")
        info = self._info(name, entry)
        if info.expired(time.time() if now is None else now):
            raise SecretExpired(f"secret {name!r} expired at {iso(info.expires)}")
        return self._decrypt(self._fernet(create=False), entry["token"])

    def _decrypt(self, fernet: Fernet, token: str) -> str:
        try:
            return fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise VaultError(
                f"{self.key_path}: the key file does not match the vault ({self.path})"
            ) from None

    # -- writing -----------------------------------------------------------------------
    def put(
        self,
        name: str,
        value: str,
        *,
        expires: float | None = None,
        rotate_after_days: int | None = None,
        now: float | None = None,
    ) -> bool:
        """Store `value` under `name`; True when the name is new. Dates not given are kept."""
        check_name(name)
        check_value(value)
        now = time.time() if now is None else now
        with self._locked():
            entries = self._load()
            # A key is made only for an empty vault: a missing key beside stored values
            # is an error, never a reason to start a second key.
            fernet = self._fernet(create=not entries)
            self._check_key(fernet, entries)
            old = entries.get(name)
            entry: dict[str, Any] = dict(old) if old else {"created": now}
            entry["token"] = fernet.encrypt(value.encode("utf-8")).decode("ascii")
            entry["updated"] = now
            if expires is not None:
                entry["expires"] = expires
            if rotate_after_days is not None:
                entry["rotate_after_days"] = rotate_after_days
            entries[name] = entry
            self._save(entries)
        return old is None

    def rotate(
        self, name: str, value: str, *, expires: float | None = None, now: float | None = None
    ) -> None:
        """A new value for an existing secret; its rotation clock starts again."""
        check_name(name)
        check_value(value)
        now = time.time() if now is None else now
        with self._locked():
            entries = self._load()
            if name not in entries:
                raise NotFound(f"no secret named {name!r} (use `secret set` to create it)")
            fernet = self._fernet(create=False)
            self._check_key(fernet, entries)
            entry = dict(entries[name])
            entry["token"] = fernet.encrypt(value.encode("utf-8")).decode("ascii")
            entry["updated"] = entry["rotated"] = now
            if expires is not None:
                entry["expires"] = expires
            entries[name] = entry
            self._save(entries)

    def set_expiry(self, name: str, expires: float | None) -> None:
        with self._locked():
            entries = self._load()
            if name not in entries:
                raise NotFound(f"no secret named {name!r}")
            entries[name] = {k: v for k, v in entries[name].items() if k != "expires"}
            if expires is not None:
                entries[name]["expires"] = expires
            self._save(entries)

    def delete(self, name: str) -> None:
        check_name(name)
        with self._locked():
            entries = self._load()
            if entries.pop(name, None) is None:
                raise NotFound(f"no secret named {name!r}")
            self._save(entries)

    def _check_key(self, fernet: Fernet, entries: dict[str, dict[str, Any]]) -> None:
        """Refuse to add a value under a key that cannot read the ones already there
        (a replaced key file): the vault would mix two keys."""
        for entry in entries.values():
            self._decrypt(fernet, entry["token"])
            return

    # -- what the due-date source announced ----------------------------------------------
    def announced(self) -> set[str]:
        path = self.path.with_name(DUE_FILE)
        try:
            raw = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return set()
        return {x for x in raw if isinstance(x, str)} if isinstance(raw, list) else set()

    def mark_announced(self, keys: set[str]) -> None:
        """Keep `keys` (only those still meaningful: the caller passes the full set)."""
        path = self.path.with_name(DUE_FILE)
        with self._locked():
            try:  # not synced: losing it on a power cut only repeats an announcement
                write_atomically(path, json.dumps(sorted(keys)), sync=False)
            except OSError as exc:
                raise VaultError(f"{path}: {exc.strerror or exc}") from None


def parse_when(text: str, now: float | None = None) -> float:
    """`--expires`: an ISO date or date-time (local time unless it ends in Z or an offset),
    or a span from now (`90d`, `12h`, `2w`). ValueError with a one-line reason."""
    now = time.time() if now is None else now
    text = text.strip()
    span = re.fullmatch(r"(\d{1,6})([smhdw])", text.lower())
    if span:
        unit = {"s": 1, "m": 60, "h": 3600, "d": DAY, "w": 7 * DAY}[span.group(2)]
        return now + int(span.group(1)) * unit
    try:
        when = dt.datetime.fromisoformat(
            text.replace("Z", "+00:00") if text.endswith("Z") else text
        )
    except ValueError:
        raise ValueError(
            f"{text[:80]!r} is not a date: use 2027-01-31, 2027-01-31T12:00 or a span such as 90d"
        ) from None
    try:
        if when.tzinfo is None:
            when = when.astimezone()  # local time, as the rest of the command line reads dates
        return when.timestamp()
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{text[:80]!r} is out of range") from None
