-- The store schema of msdigest 0.1 (src/msdigest/store.py at fc3777b), kept as
-- released so the migration test opens a real 0.1 store, not today's idea of one.
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
