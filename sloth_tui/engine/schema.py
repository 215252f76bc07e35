"""The SQLite schema as an ordered list of migrations (PRAGMA user_version counts them)."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        category TEXT NOT NULL,
        source TEXT NOT NULL,
        ts REAL NOT NULL,
        parent_id INTEGER,
        depth INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        data TEXT NOT NULL,
        warnings TEXT
    );
    CREATE INDEX events_ts ON events(ts);
    CREATE INDEX events_type ON events(type, id);
    CREATE INDEX events_category ON events(category, id);
    CREATE INDEX events_parent ON events(parent_id) WHERE parent_id IS NOT NULL;
    CREATE INDEX events_unfinished ON events(status) WHERE status IN ('pending', 'processing');

    CREATE TABLE hooks (
        name TEXT PRIMARY KEY,
        events TEXT NOT NULL,
        file TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        enabled INTEGER NOT NULL DEFAULT 1,
        timeout REAL NOT NULL DEFAULT 10.0,
        run_count INTEGER NOT NULL DEFAULT 0,
        last_run REAL,
        created REAL NOT NULL
    );

    CREATE TABLE executions (
        id INTEGER PRIMARY KEY,
        hook TEXT NOT NULL,
        event_id INTEGER NOT NULL,
        status TEXT NOT NULL,
        started REAL NOT NULL,
        duration_ms REAL NOT NULL,
        result TEXT,
        error TEXT,
        error_line INTEGER,
        lim TEXT,
        logs TEXT NOT NULL,
        calls TEXT NOT NULL,
        dry_run INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX executions_hook ON executions(hook, id);
    CREATE INDEX executions_event ON executions(event_id);

    CREATE TABLE state (
        hook TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (hook, key)
    );
    """,
    # 2: per-hook instruction and memory limits (NULL = the engine's defaults)
    """
    ALTER TABLE hooks ADD COLUMN max_instructions INTEGER;
    ALTER TABLE hooks ADD COLUMN max_memory_mb INTEGER;
    """,
    # 3: executions name their event's type (a test-fire's sample type too), so lists of
    # runs need no lookup per row; older runs take it from their event while it exists.
    """
    ALTER TABLE executions ADD COLUMN event_type TEXT;
    UPDATE executions SET event_type = (SELECT type FROM events WHERE events.id = event_id);
    """,
    # 4: a real run that started an http call says so first, in its own commit: a
    # rerun after a crash can then tell its hook (event.redelivered). The run's own
    # commit deletes the mark, so rows here are runs a crash cut short.
    """
    CREATE TABLE http_marks (
        event_id INTEGER NOT NULL,
        hook TEXT NOT NULL,
        ts REAL NOT NULL,
        PRIMARY KEY (event_id, hook)
    ) WITHOUT ROWID;
    """,
    # 5: Sloth Runner's context. Events carry the stack, agent and run they belong to
    # (NULL = none); a hook with a stack runs only on that stack's events.
    """
    ALTER TABLE events ADD COLUMN stack TEXT;
    ALTER TABLE events ADD COLUMN agent TEXT;
    ALTER TABLE events ADD COLUMN run_id TEXT;
    ALTER TABLE hooks ADD COLUMN stack TEXT;
    """,
    # 6: mirroring another engine's store (the Sloth Runner bridge). `mirrored` holds the
    # key of every foreign row taken in (its event's local id; NULL for an execution or
    # a refused row), so a row read twice is stored once; `cursors` holds where each
    # mirror resumes, written in the same transaction as the rows it covers.
    # Executions say whose run they are (NULL: this engine's).
    """
    CREATE TABLE mirrored (
        key TEXT PRIMARY KEY,
        local_id INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE cursors (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE executions ADD COLUMN origin TEXT;
    """,
    # 7: hook policies (model/policy.py: JSON, NULL for none) and why the engine disabled
    # a hook (auto_disable); executions say why they ran (NULL: an event) and which
    # attempt they are (NULL: the first).
    """
    ALTER TABLE hooks ADD COLUMN policy TEXT;
    ALTER TABLE hooks ADD COLUMN disabled_reason TEXT;
    ALTER TABLE executions ADD COLUMN trigger TEXT;
    ALTER TABLE executions ADD COLUMN attempt INTEGER;
    """,
    # 8: queries at scale (issue 19). Failed events are rare, and `status:failed` found
    # none of them without reading every row; a partial index holds only them, so the
    # status updates of the common path (pending, processing, completed) never touch it
    # (pending and processing have events_unfinished). filter_sql writes the status as a
    # literal so that the planner can use it.
    """
    CREATE INDEX events_failed ON events(id) WHERE status = 'failed';
    """,
    # 9: the fleet (serve --nats, sloth_tui/fleet). Events say which engine they came from
    # (NULL: this one). `fleet_outbox` holds what this engine has yet to publish: rows
    # are added by triggers (engine/fleet_outbox.py creates them only while the engine is
    # in a fleet, so a lone engine pays nothing) in the same transaction as the event or
    # run they name, and deleted once NATS has acknowledged them: a crash or a NATS
    # outage loses nothing, and a publish sent twice is deduplicated by its message id.
    """
    ALTER TABLE events ADD COLUMN origin TEXT;
    CREATE INDEX events_origin ON events(origin, id) WHERE origin IS NOT NULL;
    CREATE TABLE fleet_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        ref INTEGER NOT NULL
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

EVENT_COLUMNS = (
    "id, type, category, source, ts, parent_id, depth, status, data, warnings, stack, agent, "
    "run_id, origin"
)
INSERT_EVENT = (
    f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
