"""Bounces and complaints after acceptance: most bounces arrive as mail, after the relay
took the message, and complaints come as feedback loop reports. This reads them from the
bounce mailbox (IMAP over TLS, or a Maildir) and acts on them.

    reports.py    DSN (RFC 3464) and ARF (RFC 5965) reports, parsed (pure)
    mailboxes.py  where they are read from, and where a handled one is moved
    check.py      who each one is about (the ledger knows the Message-ID) and what it does
"""
