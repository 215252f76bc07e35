"""`sloth-tui doctor`: check a data dir and say, one line per finding, what is wrong and
how to recover.

Read-only: it never creates, migrates or repairs anything (it opens the database with
mode=ro), so it is safe to run beside a running daemon and on a damaged home.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import click

from sloth_tui.commands.common import emit_json, fail, settings_from
from sloth_tui.commands.output import byte_size, clean, say
from sloth_tui.config import Settings
from sloth_tui.engine import store_faults
from sloth_tui.engine.private import loose_paths
from sloth_tui.engine.schema import SCHEMA_VERSION
from sloth_tui.model.errors import SlothError, StoreError
from sloth_tui.model.stats import SourceHealth

Level = Literal["ok", "info", "warning", "problem"]
INTEGRITY_LINES = 5  # integrity_check errors shown one per line; the rest are counted
BUSY_MS = 2000  # a daemon's commit never holds a reader back this long


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    check: str
    message: str
    fix: str = ""

    def line(self) -> str:
        fix = f"; fix: {self.fix}" if self.fix else ""
        return f"{self.level:<8} {self.check}: {self.message}{fix}"


@dataclass(slots=True)
class Report:
    home: Path
    findings: list[Finding]

    def add(self, level: Level, check: str, message: str, fix: str = "") -> None:
        self.findings.append(Finding(level, check, message, fix))

    @property
    def healthy(self) -> bool:
        return all(f.level in ("ok", "info") for f in self.findings)

    @property
    def damaged(self) -> bool:
        return any(f.level == "problem" and f.check == "database" for f in self.findings)


def diagnose(settings: Settings) -> Report:
    """Every check, in the order an operator would look."""
    report = Report(settings.home, [])
    home, db = settings.home, settings.db_path
    if not _check_home(report, home):
        return report
    _check_disk(report, home)
    _check_modes(report, home, db)
    engine_pid = _check_lock(report, settings.lock_path)
    if _check_socket(report, settings.socket_path, engine_pid):
        _check_sources(report, settings)
    _check_database(report, db)
    if report.damaged:
        _recovery(report, db)
    return report


def _check_home(report: Report, home: Path) -> bool:
    if not home.exists():
        report.add("info", "home", f"{home} does not exist yet (created at the first start)")
        return False
    if not home.is_dir():
        report.add("problem", "home", f"{home} is not a directory", "choose another --home")
        return False
    if not os.access(home, os.W_OK | os.X_OK):
        report.add(
            "problem",
            "home",
            f"{home} is not writable by this user: an engine cannot start here "
            "(the CLI can still read it)",
            f"chown/chmod u+rwx {home}, or run as its owner",
        )
    else:
        report.add("ok", "home", f"{home} is a writable directory")
    return True


def _check_disk(report: Report, home: Path) -> None:
    space = store_faults.disk_space(home)
    if space is None:
        return
    fix = f"free space on the disk holding {home} (df -h {home}; df -i for inodes)"
    if space.full:
        what = "no inodes" if space.free_inodes == 0 else f"{byte_size(space.free_bytes)} free"
        report.add(
            "problem",
            "disk",
            f"the disk holding {home} is full ({what}): no event or change can be stored "
            "(reads still work)",
            fix,
        )
    elif space.nearly_full:
        report.add(
            "warning",
            "disk",
            f"the disk holding {home} is nearly full ({byte_size(space.free_bytes)} free of "
            f"{byte_size(space.size_bytes)})",
            fix,
        )
    else:
        report.add("ok", "disk", f"{byte_size(space.free_bytes)} free on the disk holding {home}")


def _check_modes(report: Report, home: Path, db: Path) -> None:
    loose = loose_paths(home, db)
    for path, mode, fix in loose:
        report.add("warning", "modes", f"{path} is mode {mode:04o}: others can read it", fix)
    if not loose:
        report.add("ok", "modes", "the home and the database files are private to their owner")


def _check_lock(report: Report, lock: Path) -> int | None:
    """The pid of the engine holding the home, or None. A shared flock taken and dropped
    at once: it fails while an engine holds its exclusive lock, and blocks nobody."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        report.add("info", "lock", "no engine has run here yet (no engine.lock)")
        return None
    except OSError as exc:
        report.add("problem", "lock", f"cannot read {lock}: {exc.strerror}", f"ls -l {lock}")
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            pid = int(text) if text.isdigit() else None
            report.add("info", "lock", f"an engine is running on this home (pid {pid or '?'})")
            return pid or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        report.add("info", "lock", "no engine is running on this home")
        return None
    finally:
        os.close(fd)


def _check_socket(report: Report, socket_path: Path, engine_pid: int | None) -> bool:
    """True when a daemon answers."""
    from sloth_tui.remote.protocol import probe

    if not socket_path.exists():
        if engine_pid is not None:
            report.add("info", "socket", f"no socket at {socket_path} (the engine serves none)")
        return False
    info = probe(socket_path, timeout=2.0)
    if info is not None:
        version = info.get("version", "?")
        report.add("ok", "socket", f"a daemon answers on {socket_path} (version {version})")
        return True
    if engine_pid is None:
        report.add(
            "warning",
            "socket",
            f"{socket_path} is left from an engine that stopped: nothing answers on it",
            f"rm {socket_path} (the next serve replaces it anyway)",
        )
    else:
        report.add(
            "problem",
            "socket",
            f"the engine (pid {engine_pid}) holds the home but does not answer on {socket_path}",
            f"look at its log; stop it with kill {engine_pid} (kill -9 if that does not work)",
        )
    return False


# A producer's state as a finding: a source retrying (the bridge waiting on a locked
# file) is a warning, a failed one a problem.
_SOURCE_LEVELS: dict[str, Level] = {"running": "ok", "stopped": "info", "retrying": "warning"}


def _check_sources(report: Report, settings: Settings) -> None:
    """The daemon's producers (EngineAPI.source_health), one line each."""
    import asyncio

    from sloth_tui.remote.client import RemoteEngine

    async def ask() -> list[SourceHealth]:
        engine = await RemoteEngine.open(settings, settings.socket_path)
        try:
            return await engine.source_health()
        finally:
            await engine.close()

    try:
        sources = asyncio.run(ask())
    except SlothError as exc:
        report.add("warning", "sources", f"the daemon did not list its producers: {exc}")
        return
    for source in sources:
        level = _SOURCE_LEVELS.get(source.state, "problem")
        text = f"{source.name} ({source.kind}) {source.state}"
        report.add(level, "source", f"{text}: {source.detail}" if source.detail else text)


def _check_database(report: Report, db: Path) -> None:
    try:
        store_faults.refuse_emptied(db)
    except StoreError as exc:
        report.add("problem", "database", str(exc))
        return
    if not db.exists():
        report.add("info", "database", f"{db} does not exist yet (created at the first start)")
        return
    try:
        conn = _open_readonly(db)
    except sqlite3.Error as exc:
        report.add("problem", "database", _describe(exc, db))
        return
    try:
        _check_contents(report, conn, db)
    except sqlite3.Error as exc:
        report.add("problem", "database", _describe(exc, db))
    finally:
        conn.close()


def _open_readonly(db: Path) -> sqlite3.Connection:
    """mode=ro; immutable when the dir cannot hold the -shm and there is no -wal (a
    read-only home), as the store's own read-only open does."""
    uri = f"file:{quote(str(db))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_MS / 1000)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.Error as exc:
        conn.close()
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code != sqlite3.SQLITE_READONLY or Path(f"{db}-wal").exists():
            raise
    conn = sqlite3.connect(f"{uri}&immutable=1", uri=True)
    conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    return conn


def _describe(exc: sqlite3.Error, db: Path) -> str:
    mapped = store_faults.store_error(exc, db)
    return str(mapped) if mapped is not None else f"cannot read {db}: {exc}"


def _check_contents(report: Report, conn: sqlite3.Connection, db: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    identity = store_faults.read_identity(db)
    try:
        store_faults.refuse_fresh(db, version)
        store_faults.check_identity(app_id, db, identity)
    except StoreError as exc:
        report.add("problem", "database", str(exc))
        return
    sidecar = store_faults.identity_path(db)
    if identity is None or app_id == 0:
        report.add("info", "identity", f"no store id recorded yet ({sidecar}): the next start does")
    else:
        report.add("ok", "identity", f"store id {app_id:#x} matches {sidecar}")
    if version > SCHEMA_VERSION:
        report.add(
            "problem",
            "schema",
            f"schema version {version} is newer than this sloth-tui ({SCHEMA_VERSION})",
            "upgrade sloth-tui",
        )
    elif version < SCHEMA_VERSION:
        report.add(
            "info",
            "schema",
            f"schema version {version}: the next start migrates it to {SCHEMA_VERSION}",
        )
    else:
        report.add("ok", "schema", f"schema version {version} (current)")
    errors = store_faults.check_problems(conn, "integrity_check", INTEGRITY_LINES + 1)
    if errors:
        for line in errors[:INTEGRITY_LINES]:
            report.add("problem", "database", f"{db} is damaged: {line}")
        if len(errors) > INTEGRITY_LINES:
            report.add("problem", "database", f"{db}: more damage than shown here")
        return
    events = "?"
    with contextlib.suppress(sqlite3.Error):
        events = f"{conn.execute('SELECT COUNT(*) FROM events').fetchone()[0]:,}"
    size = db.stat().st_size
    report.add(
        "ok",
        "database",
        f"{db} passed PRAGMA integrity_check ({events} events, {size / 1e6:.1f} MB)",
    )


def _recovery(report: Report, db: Path) -> None:
    """How to get a working store back, from a backup or from what is still readable."""
    home = db.parent
    report.add("info", "recover", "stop sloth-tui first (serve, the dashboard): nothing may write")
    report.add(
        "info",
        "recover",
        f"from a backup: move {db} and its -wal and -shm aside, then copy the backup to {db}",
    )
    report.add(
        "info",
        "recover",
        f"no backup: salvage what is readable: sqlite3 {db} .recover | sqlite3 "
        f"{home}/recovered.db, then move recovered.db in place of {db} (its -wal and "
        "-shm aside) and run doctor again",
    )
    report.add(
        "info",
        "recover",
        f"then keep backups: sqlite3 {db} \".backup '{home}/sloth-backup.db'\" "
        "(or VACUUM INTO) copies it safely while sloth-tui runs",
    )


@click.command("doctor")
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    default=None,
    help="Data dir to check (same as the global --home).",
)
@click.option("--json", "as_json", is_flag=True, help="Print {home, healthy, findings} as JSON.")
@click.pass_context
def doctor_command(ctx: click.Context, home: str | None, as_json: bool) -> None:
    """Check the data dir and its database, one line per finding.

    Runs PRAGMA integrity_check on the database (it reads every page: a few seconds
    on a large store), checks that the home and its files are private (0700/0600),
    whether an engine holds the home's lock, the schema version, the store's identity
    (a database emptied or replaced), and whether a daemon answers on the socket.

    Each line is `LEVEL CHECK: what was found[; fix: what to do]`, LEVEL being ok,
    info, warning or problem. When the database is damaged it says how to recover:
    from a backup, or with sqlite3's .recover, and how to keep backups (.backup or
    VACUUM INTO, safe while sloth-tui runs).

    Exits 0 when all is well, 1 when any finding is a warning or a problem. Read-only:
    it changes nothing, and is safe beside a running daemon.
    """
    root = ctx.find_root()
    root.ensure_object(dict)
    if home is not None:
        root.obj["home"] = home
        root.obj.pop("settings", None)
    report = diagnose(settings_from(ctx))
    if as_json:
        emit_json(
            {
                "home": str(report.home),
                "healthy": report.healthy,
                "findings": [asdict(f) for f in report.findings],
            }
        )
    else:
        for finding in report.findings:
            say(clean(finding.line()))
    if not report.healthy:
        wrong = sum(f.level not in ("ok", "info") for f in report.findings)
        fail(f"{wrong} finding{'s' * (wrong != 1)} need{'s' * (wrong == 1)} attention (above)")
    ctx.exit(0)
