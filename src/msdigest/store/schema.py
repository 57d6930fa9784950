"""The store's schema as numbered migrations, tracked in `PRAGMA user_version` (SQLite)
or the `msdigest_schema` table (PostgreSQL).

A store made by any earlier release opens in this one: each migration runs once, in
order, inside one transaction. Never edit a released migration; add the next one. The
same migrations build a PostgreSQL store; dialect.postgres_ddl spells what differs.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .dialect import postgres_ddl

# 1: the schema of msdigest 0.1 (its stores have user_version 0 and these tables already;
#    IF NOT EXISTS makes the step a no-op for them).
V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS summaries (
    id TEXT PRIMARY KEY,
    guid TEXT NOT NULL,
    link TEXT NOT NULL,
    title TEXT NOT NULL,
    published TEXT NOT NULL,
    html TEXT NOT NULL,
    text TEXT NOT NULL,
    feed TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS summaries_guid ON summaries(guid) WHERE guid != '';
CREATE INDEX IF NOT EXISTS summaries_link ON summaries(link);
CREATE INDEX IF NOT EXISTS summaries_published ON summaries(published);
CREATE TABLE IF NOT EXISTS feed_state (
    url TEXT PRIMARY KEY,
    etag TEXT,
    modified TEXT,
    checked_at TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS skipped (
    feed TEXT NOT NULL,
    entry TEXT NOT NULL,
    reason TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (feed, entry)
);
CREATE TABLE IF NOT EXISTS subscribers (
    email TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    themes TEXT NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS issues (
    period TEXT PRIMARY KEY,
    frozen_at TEXT NOT NULL,
    subject TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS issue_items (
    period TEXT NOT NULL REFERENCES issues(period),
    summary_id TEXT NOT NULL REFERENCES summaries(id),
    theme TEXT NOT NULL,
    position INTEGER NOT NULL,
    pinned INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (period, summary_id)
);
CREATE TABLE IF NOT EXISTS issue_edits (
    period TEXT NOT NULL,
    summary_id TEXT NOT NULL,
    excluded INTEGER NOT NULL DEFAULT 0,
    theme TEXT,
    pinned INTEGER NOT NULL DEFAULT 0,
    changed_at TEXT NOT NULL,
    PRIMARY KEY (period, summary_id)
);
CREATE TABLE IF NOT EXISTS issue_notes (
    period TEXT PRIMARY KEY,
    intro TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    changed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    period TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    approved_by TEXT NOT NULL,
    approved_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    period TEXT NOT NULL,
    email TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    message_id TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    next_attempt TEXT,
    updated_at TEXT NOT NULL,
    duplicate INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (period, email)
);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries(period, state);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
"""

# 2: the frozen issue's whole content (an Edition as JSON), so a resumed send renders the
#    same email; a `permanent` mark for 5xx refusals, so bounces are not read off reply text.
V2 = """
ALTER TABLE issues ADD COLUMN edition TEXT;
ALTER TABLE deliveries ADD COLUMN permanent INTEGER NOT NULL DEFAULT 0;
UPDATE deliveries SET permanent = 1 WHERE state = 'failed' AND reason LIKE '5%';
CREATE INDEX IF NOT EXISTS deliveries_email ON deliveries(email) WHERE permanent = 1;
"""

# 3: editors' accounts and sessions for the desk, sign-in failures (to slow guessing
#    down), an audit log per issue, notices sent to editors once, and each frozen issue's
#    cutoff: summaries first seen after it belong to the next issue.
V3 = """
CREATE TABLE IF NOT EXISTS editors (
    email TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    password TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    email TEXT NOT NULL REFERENCES editors(email) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    seen_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS signin_failures (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    period TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_period ON audit(period, id);
CREATE TABLE IF NOT EXISTS notices (
    period TEXT NOT NULL,
    kind TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (period, kind)
);
ALTER TABLE issues ADD COLUMN cutoff TEXT;
"""

# 4: subscribers who join by themselves: how and when each joined, the consent they gave
#    (every version of the consent text is kept), a trail of changes, pending sign-ups,
#    a suppression list of one-way hashes for erased addresses, and rate limits.
V4 = """
ALTER TABLE subscribers ADD COLUMN joined_via TEXT NOT NULL DEFAULT 'import';
ALTER TABLE subscribers ADD COLUMN consent_version TEXT NOT NULL DEFAULT '';
ALTER TABLE subscribers ADD COLUMN confirmed_at TEXT;
UPDATE subscribers SET joined_via = CASE WHEN source IN ('import', 'link', 'bounce')
                                         THEN 'import' ELSE source END;
CREATE TABLE IF NOT EXISTS subscriber_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS subscriber_events_email ON subscriber_events(email, id);
INSERT INTO subscriber_events (email, at, event, detail, source)
    SELECT email, created_at, 'joined', 'before msdigest kept a history', joined_via
    FROM subscribers;
CREATE TABLE IF NOT EXISTS signups (
    email TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    themes TEXT NOT NULL,
    consent_version TEXT NOT NULL,
    requested_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consents (
    version TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    first_used TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS suppressed (
    hash TEXT PRIMARY KEY,
    since TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rate (
    key TEXT PRIMARY KEY,
    window_start TEXT NOT NULL,
    count INTEGER NOT NULL
);
"""

# 5: theme examples: every `issue move` and every placement in an approved or sent issue, one
#    per summary and source, for the model that learns from editors (store/labels.py).
THEME_EXAMPLES = """
CREATE TABLE IF NOT EXISTS theme_examples (
    summary_id TEXT NOT NULL REFERENCES summaries(id),
    source TEXT NOT NULL,
    theme TEXT NOT NULL,
    period TEXT NOT NULL,
    correction INTEGER NOT NULL DEFAULT 0,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (summary_id, source)
);
"""

# 6: operations. Each feed's health (last success, consecutive failures, failing since,
#    when ops were alerted); every run, by hand or scheduled, with its counts; reports
#    read from the bounce mailbox (each message once) and the bounces and complaints they
#    carried; the ledger looked up by Message-ID, which a bounce quotes.
OPERATIONS = """
ALTER TABLE feed_state ADD COLUMN last_ok TEXT;
ALTER TABLE feed_state ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feed_state ADD COLUMN failing_since TEXT;
ALTER TABLE feed_state ADD COLUMN alerted_at TEXT;
UPDATE feed_state SET failures = 1, failing_since = checked_at WHERE error IS NOT NULL;
UPDATE feed_state SET last_ok = checked_at WHERE error IS NULL;
ALTER TABLE runs ADD COLUMN started_by TEXT NOT NULL DEFAULT 'schedule';
ALTER TABLE runs ADD COLUMN counts TEXT NOT NULL DEFAULT '{}';
CREATE INDEX IF NOT EXISTS deliveries_message_id ON deliveries(message_id)
    WHERE message_id != '';
CREATE TABLE IF NOT EXISTS mail_reports (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    handled_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bounces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    period TEXT,
    kind TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    report TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bounces_email ON bounces(email, kind);
"""


# 7: several senders on several hosts. A sender leases the rows it claims (its name and
#    until when); a heartbeat extends the lease, and rows whose lease ran out are taken
#    over. One token bucket per name paces the whole fleet; one row per job and due time
#    makes a collect due at 09:00 run once, whichever host's tick gets there first.
LEASES = """
ALTER TABLE deliveries ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN lease_until REAL NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS deliveries_lease ON deliveries(period, lease_owner)
    WHERE lease_owner != '';
CREATE TABLE IF NOT EXISTS send_budget (
    name TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS due_jobs (
    job TEXT NOT NULL,
    due TEXT NOT NULL,
    taken_by TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    PRIMARY KEY (job, due)
);
"""


MIGRATIONS: tuple[str, ...] = (V1, V2, V3, V4, THEME_EXAMPLES, OPERATIONS, LEASES)
VERSION = len(MIGRATIONS)


def version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection) -> int:
    """Bring the schema up to VERSION; returns the version found before."""
    found = version(db)
    for number in range(found + 1, VERSION + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            if version(db) >= number:  # another process migrated it meanwhile
                db.execute("ROLLBACK")
                continue
            for statement in _statements(MIGRATIONS[number - 1]):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return found


def pg_version(db: Any) -> int:
    db.execute("CREATE TABLE IF NOT EXISTS msdigest_schema (version INTEGER NOT NULL)")
    row = db.execute("SELECT max(version) FROM msdigest_schema").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def pg_migrate(db: Any) -> int:
    """migrate() for PostgreSQL: an advisory lock stands in for BEGIN IMMEDIATE, so two
    hosts starting at once migrate once."""
    found = pg_version(db)
    for number in range(found + 1, VERSION + 1):
        db.execute("BEGIN")
        try:
            db.execute("SELECT pg_advisory_xact_lock(7316203)")
            if pg_version(db) >= number:
                db.execute("ROLLBACK")
                continue
            for statement in _statements(MIGRATIONS[number - 1]):
                db.execute(postgres_ddl(statement))
            db.execute("INSERT INTO msdigest_schema (version) VALUES (?)", (number,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return found


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit on its own)."""
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return [s for s in out if s]
