"""Subscribers: import the publisher's CSV, row by row, reporting what is wrong and where."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, replace
from pathlib import Path

from email_validator import EmailNotValidError, validate_email

from .model import Subscriber
from .store import Store

COLUMNS = ("email", "name", "themes", "status")
MAX_NAME = 200
STATUSES = ("active", "unsubscribed")
SOURCE = "import"
# Statuses set by the subscriber's own link or by bounces; a CSV cannot undo them.
KEPT_SOURCES = ("link", "bounce")


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
    errors: list[RowError] = field(default_factory=list)


class CsvError(ValueError):
    """The file as a whole cannot be read (wrong columns, not CSV)."""


def parse(text: str, theme_ids: tuple[str, ...], source: str = "CSV"
          ) -> tuple[list[Subscriber], list[RowError]]:
    """Valid subscribers and the rows that are not, with their line numbers. Pure."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), skipinitialspace=True)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("email",) if c not in header]
    if missing:
        raise CsvError(f"{source}: line 1: the header must name the columns "
                       f"{','.join(COLUMNS)} (missing: {', '.join(missing)})")
    extra = [h for h in header if h not in COLUMNS]
    if extra:
        raise CsvError(f"{source}: line 1: unknown column(s) {', '.join(extra)}; "
                       f"expected {','.join(COLUMNS)}")
    reader.fieldnames = header
    good: list[Subscriber] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for row in reader:
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
            email = validate_email(raw, check_deliverability=False,
                                   allow_smtputf8=False).normalized
        except EmailNotValidError as exc:
            errors.append(RowError(line, raw, f"invalid email address: {exc}"))
            continue
        key = email.lower()
        if key in seen:
            errors.append(RowError(line, raw, f"duplicate of line {seen[key]}"))
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
        name = " ".join(values.get("name", "").split())
        if len(name) > MAX_NAME:
            errors.append(RowError(line, raw, f"name longer than {MAX_NAME} characters"))
            continue
        seen[key] = line
        good.append(Subscriber(key, name, themes, status))
    return good, errors


def import_file(store: Store, path: Path, theme_ids: tuple[str, ...]) -> ImportReport:
    """Upsert every valid row. An address that unsubscribed through its link stays
    unsubscribed: a list upload must not re-subscribe someone who opted out."""
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise CsvError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise CsvError(f"{path}: cannot read: {exc.strerror}") from None
    good, errors = parse(text, theme_ids, str(path))
    report = ImportReport(errors=errors)
    with store.transaction():
        for sub in good:
            source = SOURCE
            found = store.subscriber_source(sub.email)
            if found and found[1] in KEPT_SOURCES and found[0].status != "active":
                current, origin = found
                if sub.status == "active":
                    report.kept_unsubscribed.append(sub.email)
                sub, source = replace(sub, status=current.status), origin
            outcome = store.put_subscriber(sub, source)
            if outcome == "new":
                report.new += 1
            elif outcome == "updated":
                report.updated += 1
            else:
                report.unchanged += 1
    return report
