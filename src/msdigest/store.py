"""Store: one SQLite file holding summaries, subscribers, issues and the delivery ledger.

All times are stored as UTC ISO-8601 text so they sort and compare as strings.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .model import Skipped, Subscriber, Summary

SCHEMA_VERSION = 1

SCHEMA = """
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


def now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class Delivery:
    period: str
    email: str
    state: str
    attempts: int
    message_id: str
    reason: str
    next_attempt: str | None
    updated_at: str
    duplicate: int


class Store:
    """A connection to the store file; create with Store.open(path)."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db = db
        self.path = path

    @classmethod
    def open(cls, path: Path | str) -> Store:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(SCHEMA)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        return cls(db, path)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- summaries -------------------------------------------------------------------

    def upsert_summary(self, s: Summary, seen: datetime) -> str:
        """Store a summary once: 'new', 'updated' (content changed) or 'same'.

        A duplicate is the same guid, else the same link, whichever feed it came from.
        """
        row = None
        if s.guid:
            row = self.db.execute("SELECT * FROM summaries WHERE guid = ?", (s.guid,)).fetchone()
        if row is None:
            row = self.db.execute("SELECT * FROM summaries WHERE link = ?", (s.link,)).fetchone()
        if row is None:
            self.db.execute(
                "INSERT INTO summaries VALUES (?,?,?,?,?,?,?,?,?,?)",
                (s.id, s.guid, s.link, s.title, iso(s.published), s.html, s.text, s.feed,
                 iso(seen), iso(seen)),
            )
            return "new"
        fields = (s.title, iso(s.published), s.html, s.link)
        if (row["title"], row["published"], row["html"], row["link"]) == fields:
            return "same"
        self.db.execute(
            "UPDATE summaries SET title=?, published=?, html=?, link=?, text=?, updated_at=? "
            "WHERE id=?", (*fields, s.text, iso(seen), row["id"]),
        )
        return "updated"

    @staticmethod
    def _summary(row: sqlite3.Row) -> Summary:
        return Summary(
            id=row["id"], guid=row["guid"], title=row["title"], link=row["link"],
            published=from_iso(row["published"]), html=row["html"], text=row["text"],
            feed=row["feed"], first_seen=from_iso(row["first_seen"]),
        )

    def summary(self, summary_id: str) -> Summary | None:
        row = self.db.execute("SELECT * FROM summaries WHERE id = ?", (summary_id,)).fetchone()
        return self._summary(row) if row else None

    def summaries(self, ids: Iterable[str] | None = None) -> list[Summary]:
        if ids is None:
            rows = self.db.execute("SELECT * FROM summaries ORDER BY published DESC, id")
            return [self._summary(r) for r in rows]
        wanted = list(ids)
        by_id = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            q = f"SELECT * FROM summaries WHERE id IN ({','.join('?' * len(chunk))})"
            by_id.update({r["id"]: self._summary(r) for r in self.db.execute(q, chunk)})
        return [by_id[i] for i in wanted if i in by_id]

    def candidates(self, start: datetime, end: datetime, late_since: datetime | None
                   ) -> list[Summary]:
        """Summaries dated in [start, end), plus those dated earlier but first seen after
        `late_since`; never one already in a frozen (sent) issue."""
        late = iso(late_since) if late_since else None
        rows = self.db.execute(
            """SELECT * FROM summaries s
               WHERE ((published >= :start AND published < :end)
                      OR (:late IS NOT NULL AND published < :start AND first_seen > :late))
                 AND NOT EXISTS (SELECT 1 FROM issue_items i WHERE i.summary_id = s.id)
               ORDER BY published DESC, id""",
            {"start": iso(start), "end": iso(end), "late": late},
        )
        return [self._summary(r) for r in rows]

    def count_summaries(self) -> int:
        return self.db.execute("SELECT count(*) FROM summaries").fetchone()[0]

    # --- feeds -------------------------------------------------------------------------

    def feed_state(self, url: str) -> tuple[str | None, str | None]:
        row = self.db.execute("SELECT etag, modified FROM feed_state WHERE url=?",
                              (url,)).fetchone()
        return (row["etag"], row["modified"]) if row else (None, None)

    def record_feed(self, url: str, etag: str | None, modified: str | None,
                    error: str | None) -> None:
        self.db.execute(
            """INSERT INTO feed_state VALUES (?,?,?,?,?)
               ON CONFLICT(url) DO UPDATE SET
                 etag=COALESCE(excluded.etag, etag), modified=COALESCE(excluded.modified, modified),
                 checked_at=excluded.checked_at, error=excluded.error""",
            (url, etag, modified, iso(now()), error),
        )

    def replace_skipped(self, feed: str, skipped: list[Skipped]) -> None:
        self.db.execute("DELETE FROM skipped WHERE feed = ?", (feed,))
        self.db.executemany(
            "INSERT OR REPLACE INTO skipped VALUES (?,?,?,?)",
            [(s.feed, s.entry, s.reason, iso(now())) for s in skipped],
        )

    def skipped(self) -> list[Skipped]:
        rows = self.db.execute("SELECT * FROM skipped ORDER BY feed, seen_at")
        return [Skipped(r["feed"], r["entry"], r["reason"]) for r in rows]

    # --- subscribers -------------------------------------------------------------------

    @staticmethod
    def _subscriber(row: sqlite3.Row) -> Subscriber:
        themes = tuple(t for t in row["themes"].split(";") if t)
        return Subscriber(row["email"], row["name"], themes, row["status"])

    def subscriber(self, email: str) -> Subscriber | None:
        row = self.db.execute("SELECT * FROM subscribers WHERE email = ?",
                              (email.lower(),)).fetchone()
        return self._subscriber(row) if row else None

    def subscriber_source(self, email: str) -> tuple[Subscriber, str] | None:
        """A subscriber and what last set their record (import, link, bounce)."""
        row = self.db.execute("SELECT * FROM subscribers WHERE email = ?",
                              (email.lower(),)).fetchone()
        return (self._subscriber(row), row["source"]) if row else None

    def put_subscriber(self, sub: Subscriber, source: str) -> str:
        """Insert or update; returns 'new', 'updated' or 'same'."""
        old = self.subscriber(sub.email)
        stamp = iso(now())
        if old is None:
            self.db.execute("INSERT INTO subscribers VALUES (?,?,?,?,?,?,?)",
                            (sub.email.lower(), sub.name, ";".join(sub.themes), sub.status,
                             source, stamp, stamp))
            return "new"
        if old == sub:
            return "same"
        self.db.execute(
            "UPDATE subscribers SET name=?, themes=?, status=?, source=?, changed_at=? "
            "WHERE email=?",
            (sub.name, ";".join(sub.themes), sub.status, source, stamp, sub.email.lower()),
        )
        return "updated"

    def set_status(self, email: str, status: str, source: str) -> bool:
        cur = self.db.execute(
            "UPDATE subscribers SET status=?, source=?, changed_at=? WHERE email=?",
            (status, source, iso(now()), email.lower()),
        )
        return cur.rowcount > 0

    def set_themes(self, email: str, themes: tuple[str, ...], source: str) -> bool:
        cur = self.db.execute(
            "UPDATE subscribers SET themes=?, source=?, changed_at=? WHERE email=?",
            (";".join(themes), source, iso(now()), email.lower()),
        )
        return cur.rowcount > 0

    def active_subscribers(self, batch: int = 1000) -> Iterator[Subscriber]:
        """Stream active subscribers in email order, a batch at a time (flat memory)."""
        last = ""
        while True:
            rows = self.db.execute(
                "SELECT * FROM subscribers WHERE status='active' AND email > ? "
                "ORDER BY email LIMIT ?", (last, batch)).fetchall()
            if not rows:
                return
            for row in rows:
                yield self._subscriber(row)
            last = rows[-1]["email"]

    def count_subscribers(self) -> dict[str, int]:
        rows = self.db.execute("SELECT status, count(*) n FROM subscribers GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    # --- issues ------------------------------------------------------------------------

    def frozen_items(self, period: str) -> list[tuple[str, str, bool]] | None:
        """(summary_id, theme, pinned) in order for an issue already frozen for sending."""
        if not self.is_frozen(period):
            return None
        rows = self.db.execute(
            "SELECT summary_id, theme, pinned FROM issue_items WHERE period=? "
            "ORDER BY position", (period,))
        return [(r["summary_id"], r["theme"], bool(r["pinned"])) for r in rows]

    def is_frozen(self, period: str) -> bool:
        return self.db.execute("SELECT 1 FROM issues WHERE period=?",
                               (period,)).fetchone() is not None

    def freeze_issue(self, period: str, subject: str,
                     items: list[tuple[str, str, bool]]) -> None:
        """Fix an issue's content before its first message goes out."""
        with self.transaction() as db:
            db.execute("INSERT INTO issues VALUES (?,?,?)", (period, iso(now()), subject))
            db.executemany("INSERT INTO issue_items VALUES (?,?,?,?,?)",
                           [(period, sid, theme, i, int(pinned))
                            for i, (sid, theme, pinned) in enumerate(items)])

    # --- editorial changes and approvals ----------------------------------------------

    def edits(self, period: str) -> dict[str, tuple[bool, str | None, bool]]:
        """summary_id -> (excluded, theme override, pinned)."""
        rows = self.db.execute("SELECT * FROM issue_edits WHERE period=?", (period,))
        return {r["summary_id"]: (bool(r["excluded"]), r["theme"], bool(r["pinned"]))
                for r in rows}

    def set_edit(self, period: str, summary_id: str, **change: object) -> None:
        current = self.edits(period).get(summary_id, (False, None, False))
        excluded, theme, pinned = (change.get("excluded", current[0]),
                                   change.get("theme", current[1]),
                                   change.get("pinned", current[2]))
        self.db.execute(
            "INSERT OR REPLACE INTO issue_edits VALUES (?,?,?,?,?,?)",
            (period, summary_id, int(bool(excluded)), theme, int(bool(pinned)), iso(now())))

    def notes(self, period: str) -> tuple[str, str]:
        """(intro in Markdown, subject override) for an issue; empty when unset."""
        row = self.db.execute("SELECT intro, subject FROM issue_notes WHERE period=?",
                              (period,)).fetchone()
        return (row["intro"], row["subject"]) if row else ("", "")

    def set_notes(self, period: str, intro: str | None = None,
                  subject: str | None = None) -> None:
        old_intro, old_subject = self.notes(period)
        self.db.execute("INSERT OR REPLACE INTO issue_notes VALUES (?,?,?,?)",
                        (period, old_intro if intro is None else intro,
                         old_subject if subject is None else subject, iso(now())))

    def approve(self, period: str, content_hash: str, by: str) -> None:
        self.db.execute("INSERT INTO approvals (period, content_hash, approved_by, approved_at)"
                        " VALUES (?,?,?,?)", (period, content_hash, by, iso(now())))

    def approval(self, period: str) -> tuple[str, str, str] | None:
        """The latest (content_hash, approved_by, approved_at) for an issue."""
        row = self.db.execute(
            "SELECT content_hash, approved_by, approved_at FROM approvals WHERE period=? "
            "ORDER BY id DESC LIMIT 1", (period,)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def previous_issue_frozen_at(self, period: str) -> datetime | None:
        row = self.db.execute(
            "SELECT frozen_at FROM issues WHERE period < ? ORDER BY period DESC LIMIT 1",
            (period,)).fetchone()
        return from_iso(row["frozen_at"]) if row else None

    def issues(self) -> list[str]:
        return [r["period"] for r in self.db.execute("SELECT period FROM issues ORDER BY period")]

    # --- delivery ledger ---------------------------------------------------------------

    def delivery(self, period: str, email: str) -> Delivery | None:
        row = self.db.execute("SELECT * FROM deliveries WHERE period=? AND email=?",
                              (period, email.lower())).fetchone()
        return Delivery(**dict(row)) if row else None

    def deliveries(self, period: str, states: Iterable[str] | None = None,
                   duplicates: bool = False) -> list[Delivery]:
        """Ledger rows of an issue, optionally only in these states or possibly duplicated."""
        query, args = "SELECT * FROM deliveries WHERE period=?", [period]
        if states is not None:
            wanted = list(states)
            query += f" AND state IN ({','.join('?' * len(wanted))})"
            args += wanted
        if duplicates:
            query += " AND duplicate = 1"
        return [Delivery(**dict(r)) for r in self.db.execute(query + " ORDER BY email", args)]

    def delivered_emails(self, period: str, states: Iterable[str]) -> set[str]:
        marks = ",".join("?" * len(tuple(states)))
        rows = self.db.execute(
            f"SELECT email FROM deliveries WHERE period=? AND state IN ({marks})",
            (period, *states))
        return {r["email"] for r in rows}

    def mark(self, period: str, email: str, state: str, message_id: str, reason: str = "",
             attempt: bool = False, next_attempt: datetime | None = None,
             duplicate: bool = False) -> None:
        """Record a subscriber's state for an issue; each call commits on its own."""
        self.db.execute(
            """INSERT INTO deliveries (period, email, state, attempts, message_id, reason,
                                       next_attempt, updated_at, duplicate)
               VALUES (:p, :e, :s, :a, :m, :r, :n, :u, :d)
               ON CONFLICT(period, email) DO UPDATE SET
                 state=:s, attempts=attempts + :a, reason=:r, next_attempt=:n, updated_at=:u,
                 duplicate=max(duplicate, :d)""",
            {"p": period, "e": email.lower(), "s": state, "a": int(attempt), "m": message_id,
             "r": reason, "n": iso(next_attempt) if next_attempt else None, "u": iso(now()),
             "d": int(duplicate)},
        )

    def open_ledger(self, period: str) -> tuple[int, int]:
        """Give every active subscriber a row for this issue (pending unless it has one);
        close the open rows of those no longer active. Returns (rows, rows done)."""
        stamp = iso(now())
        with self.transaction() as db:
            db.execute(
                """INSERT OR IGNORE INTO deliveries (period, email, state, message_id, updated_at)
                   SELECT ?, email, 'pending', '', ? FROM subscribers WHERE status='active'""",
                (period, stamp))
            db.execute(
                """UPDATE deliveries SET state='skipped', updated_at=:u,
                          reason='no longer subscribed when the issue was sent'
                   WHERE period=:p AND state IN ('pending', 'deferred') AND email IN
                         (SELECT email FROM subscribers WHERE status != 'active')""",
                {"p": period, "u": stamp})
        row = self.db.execute(
            "SELECT count(*), sum(state IN ('sent', 'skipped', 'failed')) FROM deliveries "
            "WHERE period=?", (period,)).fetchone()
        return int(row[0]), int(row[1] or 0)

    def open_batch(self, period: str, after: str, limit: int
                   ) -> list[tuple[Subscriber, str, int, datetime | None]]:
        """The next subscribers (by address) still to be sent this issue, with their
        ledger state, attempts so far and next attempt time."""
        rows = self.db.execute(
            """SELECT s.*, d.state, d.attempts, d.next_attempt FROM deliveries d
               JOIN subscribers s ON s.email = d.email
               WHERE d.period=? AND d.state IN ('pending', 'sending', 'deferred')
                 AND s.status='active' AND d.email > ?
               ORDER BY d.email LIMIT ?""", (period, after, limit)).fetchall()
        return [(self._subscriber(r), r["state"], r["attempts"],
                 from_iso(r["next_attempt"]) if r["next_attempt"] else None) for r in rows]

    def permanent_failures(self, email: str) -> int:
        """Issues for which the server refused this address outright (5xx)."""
        return int(self.db.execute(
            "SELECT count(*) FROM deliveries WHERE email=? AND state='failed' "
            "AND reason LIKE '5%'", (email.lower(),)).fetchone()[0])

    def delivery_counts(self, period: str) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT state, count(*) n FROM deliveries WHERE period=? GROUP BY state", (period,))
        return {r["state"]: r["n"] for r in rows}

    # --- runs (what the scheduler did) -------------------------------------------------

    def start_run(self, job: str) -> int:
        cur = self.db.execute("INSERT INTO runs (job, started_at) VALUES (?, ?)",
                              (job, iso(now())))
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, outcome: str, detail: str = "") -> None:
        self.db.execute("UPDATE runs SET finished_at=?, outcome=?, detail=? WHERE id=?",
                        (iso(now()), outcome, detail, run_id))

    def runs(self, limit: int = 20) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?",
                               (limit,)).fetchall()
