"""Subscribers: import the publisher's CSV, row by row, reporting what is wrong and where."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from .addresses import AddressError, normalize
from .errors import CsvError, UsageError
from .model import Subscriber, SubscriberStatus
from .records import Change, SubscriberRecord
from .store import Store

COLUMNS = ("email", "name", "themes", "status")
MAX_NAME = 200
STATUSES = (SubscriberStatus.ACTIVE, SubscriberStatus.UNSUBSCRIBED)
SOURCE = "import"
# Statuses set by the subscriber's own link, by bounces, or by a complaint (they marked
# the digest as spam); a CSV cannot undo them.
KEPT_SOURCES = ("link", "bounce", "complaint")


@dataclass(frozen=True)
class RowError:
    line: int
    email: str
    reason: str

    def __str__(self) -> str:
        who = f" ({self.email})" if self.email else ""
        return f"line {self.line}{who}: {self.reason}"


@dataclass
class ImportReport:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_unsubscribed: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)  # erased at their request: not added
    errors: list[RowError] = field(default_factory=list)


def plain_name(raw: str) -> str:
    """A name fit for a To: header: control characters (Unicode Cc: NUL, ESC, BEL...)
    stripped, line breaks and tabs made spaces, runs of whitespace one space."""
    kept = "".join(c for c in raw if c.isspace() or unicodedata.category(c) != "Cc")
    return " ".join(kept.split())


def parse(text: str, theme_ids: tuple[str, ...], source: str = "CSV"
          ) -> tuple[list[Subscriber], list[RowError]]:
    """Valid subscribers and the rows that are not, with their line numbers. Pure."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), skipinitialspace=True)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in header:
        raise CsvError(f"{source}: line 1: the header must name the columns "
                       f"{','.join(COLUMNS)} (missing: email)")
    extra = [h for h in header if h not in COLUMNS]
    if extra:
        raise CsvError(f"{source}: line 1: unknown column(s) {', '.join(extra)}; "
                       f"expected {','.join(COLUMNS)}")
    reader.fieldnames = header
    good: list[Subscriber] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    while True:
        before = reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a field over csv's limit, say: this row, not the file
            errors.append(RowError(before + 1, "", f"cannot be read as CSV: {exc}"))
            continue
        line = reader.line_num
        if None in row:
            errors.append(RowError(line, (row.get("email") or "").strip(),
                                   f"too many fields ({len(header) + len(row[None])} for "
                                   f"{len(header)} columns)"))
            continue
        values = {k: (v or "").strip() for k, v in row.items()}
        if not any(values.values()):
            continue  # a blank line
        raw = values.get("email", "")
        try:
            email = normalize(raw)
        except AddressError as exc:
            errors.append(RowError(line, raw, f"invalid email address: {exc.reason}"))
            continue
        if email in seen:
            errors.append(RowError(line, raw, f"duplicate of line {seen[email]}"))
            continue
        themes = tuple(t.strip() for t in values.get("themes", "").split(";") if t.strip())
        unknown = [t for t in themes if t not in theme_ids]
        if unknown:
            errors.append(RowError(line, raw, f"unknown theme {', '.join(unknown)} "
                                   f"(known: {', '.join(theme_ids)})"))
            continue
        status = values.get("status", "").lower() or "active"
        if status not in STATUSES:
            errors.append(RowError(line, raw, f"status must be active or unsubscribed, "
                                   f"got {status!r}"))
            continue
        name = plain_name(values.get("name", ""))
        if len(name) > MAX_NAME:
            errors.append(RowError(line, raw, f"name longer than {MAX_NAME} characters"))
            continue
        seen[email] = line
        good.append(Subscriber(email, name, themes, SubscriberStatus(status)))
    return good, errors


def import_file(store: Store, path: Path, theme_ids: tuple[str, ...]) -> ImportReport:
    """Upsert every valid row. An address that unsubscribed through its link stays
    unsubscribed: a list upload must not re-subscribe someone who opted out."""
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise CsvError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    good, errors = parse(text, theme_ids, str(path))
    report = ImportReport(errors=errors)
    counts = {Change.NEW: 0, Change.UPDATED: 0, Change.SAME: 0}
    with store.transaction():
        for sub in good:
            if store.signups.suppressed(sub.email):
                report.suppressed.append(sub.email)
                continue
            source = SOURCE
            found = store.subscribers.record(sub.email)
            old = found.subscriber if found else None
            if found and found.source in KEPT_SOURCES and old and \
                    old.status is not SubscriberStatus.ACTIVE:
                if sub.status is SubscriberStatus.ACTIVE:
                    report.kept_unsubscribed.append(sub.email)
                sub, source = replace(sub, status=old.status), found.source
            counts[store.subscribers.replace(old, sub, source)] += 1
    report.new, report.updated, report.unchanged = (
        counts[Change.NEW], counts[Change.UPDATED], counts[Change.SAME])
    return report


# --- what is held about one subscriber, all of them, and erasure ---------------------------

EXPORT_FIELDS = ("email", "name", "themes", "status", "joined_via", "joined_at",
                 "consent_version", "consent_text", "confirmed_at", "last_change",
                 "last_change_by", "history")


def held(store: Store, record: SubscriberRecord) -> dict[str, str]:
    """Everything held about one subscriber, as text (one export row, `show`)."""
    sub = record.subscriber
    events = store.subscribers.events(sub.email)
    return {
        "email": sub.email, "name": sub.name, "themes": ";".join(sub.themes) or "all",
        "status": str(sub.status), "joined_via": record.joined_via,
        "joined_at": _when(record.joined_at),
        "consent_version": record.consent_version,
        "consent_text": store.signups.consent_text(record.consent_version) or ""
        if record.consent_version else "",
        "confirmed_at": _when(record.confirmed_at), "last_change": _when(record.changed_at),
        "last_change_by": record.source,
        "history": " | ".join(f"{_when(e.at)} {e.event} ({e.source}): {e.detail}"
                              for e in events),
    }


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC" if at else ""


def export(store: Store, statuses: tuple[SubscriberStatus, ...] | None = None
           ) -> Iterator[dict[str, str]]:
    for record in store.subscribers.records(statuses):
        yield held(store, record)


def remove(store: Store, email: str) -> None:
    """Erase what is held about an address; keep only a one-way hash so a later import
    does not add it back (a sign-up through the form, by them, still may)."""
    address = normalize(email)
    with store.transaction():
        if not store.subscribers.erase(address) and not store.signups.get(address):
            raise UsageError(f"{address} is not on the list (`msdigest subscribers list`)")
        store.signups.done(address)
        store.signups.suppress(address, "erased at their request")
