"""A minimal SMTP sink for benchmarks: accepts everything, counts messages, reads DATA in bulk.

aiosmtpd parses line by line and tops out near 300 messages/s on this machine, so a
benchmark against it would measure the server. This one speaks just enough SMTP for
smtplib (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; commands may come pipelined, RFC
2920) and finds the end of DATA with one search per read. Run: python bench/sink.py
PORT_FILE; it writes its port to PORT_FILE, and on SIGTERM prints one JSON line with what
it received.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time

END = b"\r\n.\r\n"


class Stats:
    messages = 0
    octets = 0
    connections = 0
    first = 0.0
    last = 0.0


async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    Stats.connections += 1
    writer.write(b"220 sink ESMTP\r\n")
    try:
        while True:
            line = await reader.readuntil(b"\r\n")
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250-sink\r\n250-8BITMIME\r\n250-PIPELINING\r\n"
                             b"250 SIZE 52428800\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                data = await reader.readuntil(END)
                Stats.messages += 1
                Stats.octets += len(data)
                now = time.monotonic()
                Stats.first = Stats.first or now
                Stats.last = now
                writer.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:  # MAIL, RCPT, RSET, NOOP
                writer.write(b"250 ok\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main(port_file: str) -> None:
    server = await asyncio.start_server(session, "127.0.0.1", 0, limit=64 * 1024 * 1024)
    port = server.sockets[0].getsockname()[1]
    with open(port_file, "w") as f:
        f.write(str(port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    print(json.dumps({"messages": Stats.messages, "octets": Stats.octets,
                      "connections": Stats.connections,
                      "seconds": Stats.last - Stats.first, "first": Stats.first}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
