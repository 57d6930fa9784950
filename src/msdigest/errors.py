"""One error root for everything a user can get wrong or the world can break.

Every error carries the exit code the command line ends with, and a message that
names the file, key, line or address and says what to do. `msdigest.cli.main`
catches `MsdigestError` once; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """The exit codes the README documents."""

    OK = 0
    ERROR = 1  # failed: nothing was done
    USAGE = 2  # bad command line or config
    PARTIAL = 3  # done in part; running again is safe
    REFUSED = 4  # the issue may not go out (not approved, changed, already sent)
    INTERRUPTED = 130


class MsdigestError(Exception):
    """Base of every error meant for the person running msdigest."""

    exit_code: Exit = Exit.ERROR


class UsageError(MsdigestError):
    """The command line asks for something that cannot be (a bad period, id, path)."""

    exit_code = Exit.USAGE


class ConfigError(UsageError):
    """A config file that cannot be used; the message names file and key."""


class PeriodError(UsageError):
    """A period that is not YYYY-MM."""


class TemplateError(UsageError):
    """An editor's template folder or template that cannot be used."""


class EditError(MsdigestError):
    """An edit that cannot be made as asked (no such summary or theme, a bad link in the
    note); the message says why and what to do."""


class Stale(MsdigestError):
    """A change made against a view of the issue that is out of date: look again."""


class Refused(MsdigestError):
    """The issue may not go out or change as asked (not approved, or already sent)."""

    exit_code = Exit.REFUSED


class NotApproved(Refused):
    """An issue that may not be sent yet, with the plain reason."""


class IssueFrozen(Refused):
    """An edit to an issue that has started going out."""


class EmptyIssue(MsdigestError):
    """An issue with no summaries: there is nothing to send or approve."""


class DeliveryError(MsdigestError):
    """A send that cannot start or go on (the message says what to do)."""


class CsvError(MsdigestError):
    """A subscriber file that cannot be read as a whole (wrong columns, not CSV)."""


class FeedError(MsdigestError):
    """A feed that could not be read at all; the message says what and where."""


class StoreError(MsdigestError):
    """The store cannot be opened or written; the message names the file."""


class TokenError(MsdigestError):
    """A signed link that is not genuine."""
