"""Where reports are read from — an IMAP folder over TLS (the standard library's imaplib)
or a Maildir — and where a handled one goes: into [bounces] processed_folder, so it is
never read as new again. Messages that are not reports (a person's reply) stay where
they are, unread; on IMAP they get a keyword so they are not fetched again."""

from __future__ import annotations

import imaplib
import os
import re
import ssl
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..config import Bounces
from ..errors import MsdigestError

CHECKED = "$MsdigestChecked"  # an IMAP keyword: looked at, not a report, left for people


class MailboxError(MsdigestError):
    """The bounce mailbox cannot be read; the message names it and says why."""


@dataclass(frozen=True)
class Mail:
    ref: str  # an IMAP UID, or a file's path in the Maildir
    raw: bytes


class Mailbox(Protocol):
    name: str

    def messages(self) -> Iterator[Mail]: ...

    def handled(self, mail: Mail) -> None:
        """Move it to the processed folder."""

    def ignored(self, mail: Mail) -> None:
        """Not a report: leave it, but do not look at it again if that can be said."""

    def close(self) -> None: ...


def quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Imap:
    def __init__(self, settings: Bounces) -> None:
        s = settings
        self.settings = s
        self.name = f"imap {s.username}@{s.host}:{s.port}/{s.folder}"
        if not s.password:
            raise MailboxError(f"{self.name}: MSDIGEST_IMAP_PASSWORD is not set ([bounces] "
                               "source = \"imap\" logs in with it)")
        context = ssl.create_default_context(cafile=s.ca_file or None)
        try:
            if s.security == "ssl":
                self.imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    s.host, s.port, ssl_context=context, timeout=s.timeout)
            else:
                self.imap = imaplib.IMAP4(s.host, s.port, timeout=s.timeout)
                self.imap.starttls(ssl_context=context)
            self.imap.login(s.username, s.password)
            typ, caps = self.imap.capability()  # after login: what this session may do
            self.capabilities = set(self._said(caps).upper().split())
            typ, data = self.imap.select(quoted(s.folder))
            if typ != "OK":
                raise MailboxError(f"{self.name}: no folder {s.folder!r}: {self._said(data)}")
        except (imaplib.IMAP4.error, ssl.SSLError, OSError) as exc:
            raise MailboxError(f"{self.name}: {self._why(exc)}") from None
        self.made_folder = False

    @staticmethod
    def _said(data: list[bytes | None] | list[bytes]) -> str:
        return " ".join(d.decode("utf-8", "replace") for d in data if isinstance(d, bytes))

    @staticmethod
    def _why(exc: BaseException) -> str:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return f"the server's certificate is not trusted: {exc.verify_message} ([bounces] " \
                   "ca_file)"
        if isinstance(exc, TimeoutError):
            return "no answer in time ([bounces] timeout)"
        if isinstance(exc, imaplib.IMAP4.error):
            return f"the server said: {exc}"
        return f"cannot connect: {getattr(exc, 'strerror', None) or exc}"

    def call(self, command: str, *args: str) -> list[bytes]:
        """A UID command; MailboxError unless the server says OK."""
        typ, data = self.imap.uid(command, *args)
        if typ != "OK":
            raise MailboxError(f"{self.name}: {command} failed: {self._said(data)}")
        return [d for d in data if isinstance(d, bytes)]

    def messages(self) -> Iterator[Mail]:
        try:
            found = self.call("SEARCH", "UNKEYWORD", CHECKED)
            for uid in b" ".join(found).decode().split():
                data = self.imap.uid("FETCH", uid, "(BODY.PEEK[])")[1]
                raw = next((d[1] for d in data if isinstance(d, tuple)), None)
                if isinstance(raw, bytes):
                    yield Mail(uid, raw)
        except (imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError(f"{self.name}: {self._why(exc)}") from None

    def handled(self, mail: Mail) -> None:
        target = quoted(self.settings.processed_folder)
        try:
            if not self.made_folder:
                self.imap.create(target)  # "already exists" is fine
                self.made_folder = True
            self.call("STORE", mail.ref, "+FLAGS.SILENT", f"(\\Seen {CHECKED})")
            if "MOVE" in self.capabilities:
                self.call("MOVE", mail.ref, target)
                return
            self.call("COPY", mail.ref, target)
            self.call("STORE", mail.ref, "+FLAGS.SILENT", "(\\Deleted)")
            if "UIDPLUS" in self.capabilities:  # expunge this one only, never others'
                self.call("EXPUNGE", mail.ref)
        except (imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError(f"{self.name}: cannot move a report to "
                               f"{self.settings.processed_folder!r}: {self._why(exc)}") from None

    def ignored(self, mail: Mail) -> None:
        # a server without keywords: it is looked at again next time, harmlessly
        with suppress(imaplib.IMAP4.error, OSError):
            self.imap.uid("STORE", mail.ref, "+FLAGS.SILENT", f"({CHECKED})")

    def close(self) -> None:
        with suppress(imaplib.IMAP4.error, OSError):
            self.imap.logout()


class Maildir:
    """A Maildir (cur/ new/ tmp/); handled reports go to its Maildir++ subfolder
    `.<processed_folder>`, moved by rename, so a report is in one place at a time."""

    def __init__(self, settings: Bounces) -> None:
        self.path = Path(settings.maildir)
        self.name = f"maildir {self.path}"
        if not all((self.path / d).is_dir() for d in ("cur", "new", "tmp")):
            raise MailboxError(f"{self.path}: not a Maildir (it needs cur/, new/ and tmp/; "
                               "[bounces] maildir)")
        folder = re.sub(r"[/\\]", ".", settings.processed_folder.strip(".")) or "processed"
        self.done = self.path / f".{folder}"

    def messages(self) -> Iterator[Mail]:
        for sub in ("new", "cur"):
            for entry in sorted((self.path / sub).iterdir()):
                if entry.is_file() and not entry.name.startswith("."):
                    try:
                        yield Mail(str(entry), entry.read_bytes())
                    except OSError as exc:
                        raise MailboxError(f"{entry}: cannot read: {exc.strerror}") from None

    def handled(self, mail: Mail) -> None:
        source = Path(mail.ref)
        try:
            for sub in ("cur", "new", "tmp"):
                (self.done / sub).mkdir(parents=True, exist_ok=True)
            (self.done / "maildirfolder").touch()
            name = source.name if ":2," in source.name else f"{source.name}:2,S"
            os.rename(source, self.done / "cur" / name)
        except OSError as exc:
            raise MailboxError(f"{source}: cannot move it to {self.done}: "
                               f"{exc.strerror}") from None

    def ignored(self, mail: Mail) -> None:
        pass  # left as it is; the next check reads it again and leaves it again

    def close(self) -> None:
        pass


def open_mailbox(settings: Bounces) -> Mailbox:
    if settings.source == "imap":
        return Imap(settings)
    if settings.source == "maildir":
        return Maildir(settings)
    raise MailboxError("no bounce mailbox is set: [bounces] source is empty (\"imap\" or "
                       "\"maildir\")")
