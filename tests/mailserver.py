"""A real IMAP server for the bounce tests — Debian's dovecot (dovecot-imapd, which
`make test` installs), started by the tests on a free port with TLS from a throwaway CA —
and the reports mail servers send back, written from tests/data/reports/ around a message
the tests really sent.

Dovecot runs in the foreground (-F) with a config of its own in a temporary folder: no
system service, no system config, gone when the test ends.
"""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trustme

from .conftest import REPO, Received, missing

REPORTS = REPO / "tests" / "data" / "reports"
USER, PASSWORD = "bounces@summaries.example.org", "imap-password-for-the-tests"
DOVECOT = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")


@dataclass
class ImapServer:
    host: str
    port: int
    ca_file: Path
    root: Path

    def connect(self) -> imaplib.IMAP4_SSL:
        imap = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=ssl.create_default_context(
            cafile=str(self.ca_file)), timeout=10)
        imap.login(USER, PASSWORD)
        return imap

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """As the MTA would: the message appears in the folder, unread."""
        imap = self.connect()
        try:
            typ, data = imap.append(folder, "", None, raw)
            assert typ == "OK", data
        finally:
            imap.logout()

    def folder(self, name: str = "INBOX") -> list[tuple[bytes, set[str]]]:
        """Each message's bytes and flags, as a client sees them."""
        imap = self.connect()
        try:
            typ, _ = imap.select(f'"{name}"', readonly=True)
            if typ != "OK":
                return []
            uids = imap.uid("SEARCH", "ALL")[1][0].split()
            found = []
            for uid in uids:
                data = imap.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")[1]
                head, body = next(d for d in data if isinstance(d, tuple))
                flags = head.decode().split("FLAGS (", 1)[1].split(")", 1)[0].split()
                found.append((body, set(flags)))
            return found
        finally:
            imap.logout()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dovecot() -> Iterator[ImapServer]:
    binary = shutil.which("dovecot") or next((p for p in DOVECOT if Path(p).is_file()), None)
    if binary is None:
        missing("Debian's dovecot-imapd is not installed (`make test` installs it): the "
                "bounce tests read a real IMAP mailbox")
    root = Path(tempfile.mkdtemp(prefix="msdigest-imap-"))
    root.chmod(0o755)  # the mail user (below) must reach its home in here
    try:
        yield from _run(binary, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(binary: str, root: Path) -> Iterator[ImapServer]:
    ca = trustme.CA()
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
        str(root / "server.pem"))
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    home = root / "home"
    home.mkdir()
    if os.getuid() == 0:  # dovecot's own users run it; mail is kept as nobody, never root
        uid, gid, users = 65534, 65534, ""
        os.chown(home, uid, gid)
    else:  # as this user: every process is ours (dovecot's "running without root")
        uid, gid = os.getuid(), os.getgid()
        me, group = pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name
        users = (f"default_internal_user = {me}\ndefault_internal_group = {group}\n"
                 f"default_login_user = {me}\n")
    port = _free_port()
    (root / "dovecot.conf").write_text(f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
{users}protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.pem
auth_mechanisms = plain
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
""")
    proc = subprocess.Popen([binary, "-F", "-c", str(root / "dovecot.conf")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    server = ImapServer("127.0.0.1", port, root / "ca.pem", root)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                server.connect().logout()
                break
            except (OSError, imaplib.IMAP4.error):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (root / "dovecot.log").read_text() if (root / "dovecot.log"
                                                                 ).exists() else ""
                    out = proc.stdout.read().decode() if proc.stdout and \
                        proc.poll() is not None else ""
                    raise RuntimeError(f"dovecot did not start: {out}\n{log}") from None
                time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# --- reports, as Postfix, Exim, Gmail and a feedback loop write them ------------------------

HARD = "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table"
FULL = "552 5.2.2 <{rcpt}>: Mailbox full: quota exceeded (in reply to end of DATA command)"


def report(name: str, sent: Received, *, reply: str = HARD, status: str = "5.1.1",
           redacted: bool = False) -> bytes:
    """tests/data/reports/NAME about a message the tests sent (its headers, its body)."""
    raw = sent.data.decode("utf-8", "replace").replace("\r\n", "\n")
    headers = raw.split("\n\n", 1)[0]
    rcpt = sent.recipients[0]
    if redacted:  # as feedback loops do: the recipient is not said
        headers = "\n".join("To: redacted@example-isp.net" if line.startswith("To:") else line
                            for line in headers.split("\n"))
    text = (REPORTS / name).read_text("utf-8")
    for key, value in {
            "{{HEADERS}}": headers, "{{MESSAGE}}": raw,
            "{{MESSAGE_ID}}": str(sent.message["Message-ID"]),
            "{{SUBJECT}}": str(sent.message["Subject"]), "{{STATUS}}": status,
            "{{REPLY}}": reply.format(rcpt=rcpt),
            "{{RCPT_LINE}}": "" if redacted else f"Original-Rcpt-To: {rcpt}\n",
            "{{RECIPIENT}}": rcpt}.items():
        text = text.replace(key, value)
    return text.encode("utf-8")
