"""Delivery: an edition to every subscriber who has not had it, through a Transport.

    transport.py  the seam: open / send(envelope_from, rcpt, bytes) / close, its failures,
                  and the outbox (.eml files) and in-memory transports
    smtp.py       the SMTP transport: the wire, and SMTP replies mapped to those failures
    pacing.py     the rate limit (per second, per hour)
    variants.py   each variant assembled from the issue's pieces (rendered and inlined once)
    rows.py       where a run's work comes from and where outcomes go: the ledger,
                  a dry run, a test send
    run.py        the send itself: a feeder, a pool of workers, retries, bounces
    send.py       the three ways in: send, dry_run, send_test
"""
