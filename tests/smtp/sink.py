"""A real SMTP server for seglab's email tests: receives over loopback and
appends each message as one JSON line to a file.

    python sink.py --port 0 --out messages.jsonl [--reject-rcpt ADDR]...
                   [--fail-first N] [--fail-all]

Prints `PORT <n>` on stdout once it listens. Runs until SIGTERM or SIGINT
or, when stdin is a pipe, until stdin closes (so it never outlives the test
that started it); then it flushes, prints `STATS messages=<n>
cpu_seconds=<s> wall_seconds=<s>` and exits.

A message is written before it is acknowledged: the lines of every message
finished in one turn of the event loop go out in one write, and their `250`
replies follow it (a group commit), so a client that got `250` finds its
message in the file.
"""

import argparse
import asyncio
import email
import email.header
import email.policy
import json
import os
import re
import signal
import stat
import sys
import time

from aiosmtpd.smtp import SMTP

try:  # faster loop when present; the sink works without it
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None


def header_text(msg, name):
    """The unfolded, decoded value of a header, or None."""
    value = msg.get(name)
    if value is None:
        return None
    value = "".join(str(value).replace("\r\n", "\n").split("\n"))
    parts = email.header.decode_header(value)
    if all(isinstance(p, str) for p, _ in parts):
        return value
    return str(email.header.make_header(parts))


def part_text(part):
    payload = part.get_payload(decode=True)
    if payload is None:
        return None
    charset = part.get_content_charset() or "utf-8"
    return payload.decode(charset, errors="replace").replace("\r\n", "\n")


def bodies(msg):
    """The first text/html and text/plain parts (not attachments)."""
    html = text = None
    for part in msg.walk():
        if part.is_multipart() or part.get("Content-Disposition", "").startswith("attachment"):
            continue
        ctype = part.get_content_type()
        if ctype == "text/html" and html is None:
            html = part_text(part)
        elif ctype == "text/plain" and text is None:
            text = part_text(part)
    return html, text


def record(envelope):
    msg = email.message_from_bytes(envelope.content, policy=email.policy.compat32)
    html, text = bodies(msg)
    return {
        "mail_from": envelope.mail_from,
        "rcpt_tos": list(envelope.rcpt_tos),
        "idempotency_key": header_text(msg, "X-Seglab-Idempotency-Key"),
        "message_id": header_text(msg, "Message-ID"),
        "from": header_text(msg, "From"),
        "to": header_text(msg, "To"),
        "subject": header_text(msg, "Subject"),
        "content_type": msg.get_content_type(),
        "list_unsubscribe": header_text(msg, "List-Unsubscribe"),
        "list_unsubscribe_post": header_text(msg, "List-Unsubscribe-Post"),
        "html": html,
        "text": text,
    }


class Journal:
    """Buffered JSON lines, written once per turn of the loop."""

    def __init__(self, loop, path):
        self.loop = loop
        self.file = open(path, "ab", buffering=1 << 20)
        self.lines = []
        self.done = None
        self.count = 0

    async def append(self, obj):
        self.lines.append(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
        if self.done is None:
            self.done = self.loop.create_future()
            self.loop.call_soon(self.flush)
        await self.done

    def flush(self):
        lines, done = self.lines, self.done
        self.lines, self.done = [], None
        self.file.write(b"".join(lines))
        self.file.flush()
        self.count += len(lines)
        if done is not None and not done.done():
            done.set_result(None)

    def close(self):
        self.flush()
        self.file.close()


ANGLE_ADDR = re.compile(r"\s*<([^<>\s]*)>(.*)")


class FastSMTP(SMTP):
    """aiosmtpd's server with a quick path for the common `<addr>` argument
    of MAIL and RCPT (its general parser builds a class on every call)."""

    def _getaddr(self, arg):
        m = ANGLE_ADDR.fullmatch(arg)
        if m is None or m.group(1).count("@") > 1:
            return super()._getaddr(arg)
        return m.group(1), m.group(2)


class Handler:
    def __init__(self, journal, reject, fail_first, fail_all):
        self.journal = journal
        self.reject = {a.lower() for a in reject}
        self.fail_left = fail_first
        self.fail_all = fail_all

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return f"550 5.1.1 <{address}>: user unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.fail_all:
            return "554 5.6.0 message rejected"
        if self.fail_left > 0:
            self.fail_left -= 1
            return "451 4.3.0 try again later"
        await self.journal.append(record(envelope))
        return "250 2.0.0 OK queued"


async def serve(args):
    loop = asyncio.get_running_loop()
    journal = Journal(loop, args.out)
    handler = Handler(journal, args.reject_rcpt, args.fail_first, args.fail_all)

    def factory():
        return FastSMTP(handler, hostname="seglab-sink", ident="seglab-sink", loop=loop)

    server = await loop.create_server(factory, host=args.host, port=args.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)

    stop = loop.create_future()

    def finish(*_):
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, finish)
    # When stdin is a pipe, its closing means the process that started the
    # sink is gone.
    stdin = sys.stdin.fileno()
    if stat.S_ISFIFO(os.fstat(stdin).st_mode):
        loop.add_reader(stdin, lambda: os.read(stdin, 4096) or finish())

    cpu0, wall0 = time.process_time(), time.monotonic()
    await stop
    server.close()
    journal.close()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    print(f"STATS messages={journal.count} cpu_seconds={cpu:.3f} wall_seconds={wall:.3f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525, help="0 picks a free port")
    parser.add_argument("--out", required=True, help="JSON lines, one per message")
    parser.add_argument("--reject-rcpt", action="append", default=[], metavar="ADDR",
                        help="answer RCPT TO:<ADDR> with 550 5.1.1 user unknown")
    parser.add_argument("--fail-first", type=int, default=0, metavar="N",
                        help="answer 451 to the first N messages")
    parser.add_argument("--fail-all", action="store_true", help="answer 554 to every message")
    args = parser.parse_args()
    if uvloop is not None:
        uvloop.install()
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
