"""A period: the calendar month one issue covers, parsed once from "YYYY-MM"."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

from .errors import PeriodError

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int
    text: str = field(init=False, repr=False, compare=False)  # "2026-07", made once

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", f"{self.year:04d}-{self.month:02d}")

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _PERIOD.match(text or "")
        if not m:
            raise PeriodError(f"period must be YYYY-MM (e.g. 2026-07), got {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, when: date) -> Period:
        """The period a date falls in."""
        return cls(when.year, when.month)

    def __str__(self) -> str:
        return self.text

    @property
    def label(self) -> str:
        """"July 2026", as the email says it."""
        return date(self.year, self.month, 1).strftime("%B %Y")

    def previous(self) -> Period:
        return Period(self.year, self.month - 1) if self.month > 1 else Period(self.year - 1, 12)

    def bounds(self, tz: tzinfo) -> tuple[datetime, datetime]:
        """[start, end) of the month in the configured time zone."""
        start = datetime(self.year, self.month, 1, tzinfo=tz)
        end = datetime(self.year + self.month // 12, self.month % 12 + 1, 1, tzinfo=tz)
        return start, end
