"""A real SMTP server for seglab's email tests: receives over loopback and
appends each message as one JSON line to a file.

    python sink.py --port 0 --out messages.jsonl [--reject-rcpt ADDR]...
                   [--fail-first N] [--fail-all] [--idle-timeout SECONDS]

Prints `PORT <n>` on stdout once it listens. Runs until SIGTERM or SIGINT
or, when stdin is a pipe, until stdin closes (so it never outlives the test
that started it); then it flushes, prints `STATS messages=<n>
connections=<n> cpu_seconds=<s> wall_seconds=<s>` and exits.

A message is written before it is acknowledged: the lines of every message
finished in one turn of the event loop go out in one write, and their `250`
replies follow it (a group commit), so a client that got `250` finds its
message in the file.
"""

import argparse
import asyncio
import binascii
import email.header
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


PARAM = re.compile(r';\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')


def split_part(raw):
    """A MIME entity's headers (lower-case names, unfolded, first wins) and
    body. A small parser: the standard library's takes most of the sink's
    time at a few thousand messages a second."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, _, body = raw.partition(b"\n\n")
    headers = {}
    name = None
    for line in head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t"):
            if name is not None:
                headers[name] += line
            continue
        key, colon, value = line.partition(":")
        key = key.strip().lower()
        if not colon or key in headers:
            name = None
            continue
        name = key
        headers[name] = value.strip()
    return headers, body


def content_type(headers):
    value = headers.get("content-type", "text/plain")
    ctype = value.split(";", 1)[0].strip().lower()
    params = {k.lower(): v[1:-1] if v.startswith('"') else v for k, v in PARAM.findall(value)}
    return ctype, params


def decoded(value):
    """A header value with its RFC 2047 encoded words decoded."""
    if value is None or "=?" not in value:
        return value
    return str(email.header.make_header(email.header.decode_header(value)))


def leaves(raw):
    """(content type, params, headers, body) of each non-multipart part."""
    headers, body = split_part(raw)
    ctype, params = content_type(headers)
    boundary = params.get("boundary")
    if not ctype.startswith("multipart/") or not boundary:
        yield ctype, params, headers, body
        return
    delimiter = b"--" + boundary.encode()
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        # The line break before a delimiter belongs to the delimiter.
        part = part[2:] if part.startswith(b"\r\n") else part.lstrip(b"\n")
        if part.endswith(b"\r\n"):
            part = part[:-2]
        yield from leaves(part)


def part_text(params, headers, body):
    encoding = headers.get("content-transfer-encoding", "").lower()
    if encoding == "quoted-printable":
        body = binascii.a2b_qp(body)
    elif encoding == "base64":
        body = binascii.a2b_base64(body)
    text = body.decode(params.get("charset", "utf-8"), errors="replace")
    return text.replace("\r\n", "\n")


def record(envelope):
    headers, _ = split_part(envelope.content)
    html = text = None
    for ctype, params, part_headers, body in leaves(envelope.content):
        if part_headers.get("content-disposition", "").lower().startswith("attachment"):
            continue
        if ctype == "text/html" and html is None:
            html = part_text(params, part_headers, body)
        elif ctype == "text/plain" and text is None:
            text = part_text(params, part_headers, body)
    return {
        "mail_from": envelope.mail_from,
        "rcpt_tos": list(envelope.rcpt_tos),
        "idempotency_key": headers.get("x-seglab-idempotency-key"),
        "message_id": headers.get("message-id"),
        "from": decoded(headers.get("from")),
        "to": decoded(headers.get("to")),
        "subject": decoded(headers.get("subject")),
        "content_type": content_type(headers)[0],
        "list_unsubscribe": headers.get("list-unsubscribe"),
        "list_unsubscribe_post": headers.get("list-unsubscribe-post"),
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
    of MAIL and RCPT (its general parser builds a class on every call), and
    a count of the connections."""

    connections = 0

    def connection_made(self, transport):
        FastSMTP.connections += 1
        super().connection_made(transport)

    def _getaddr(self, arg):
        m = ANGLE_ADDR.fullmatch(arg)
        if m is None or m.group(1).count("@") > 1:
            return super()._getaddr(arg)
        return m.group(1), m.group(2)


class Handler:
    def __init__(self, journal, reject, fail_first, fail_all, delay):
        self.journal = journal
        self.reject = {a.lower() for a in reject}
        self.fail_left = fail_first
        self.fail_all = fail_all
        self.delay = delay

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
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        await self.journal.append(record(envelope))
        return "250 2.0.0 OK queued"


async def serve(args):
    loop = asyncio.get_running_loop()
    journal = Journal(loop, args.out)
    handler = Handler(journal, args.reject_rcpt, args.fail_first, args.fail_all,
                      args.delay_ms / 1000.0)

    def factory():
        return FastSMTP(handler, hostname="seglab-sink", ident="seglab-sink",
                        timeout=args.idle_timeout, loop=loop)

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
    print(f"STATS messages={journal.count} connections={FastSMTP.connections} "
          f"cpu_seconds={cpu:.3f} wall_seconds={wall:.3f}", flush=True)


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
    parser.add_argument("--delay-ms", type=float, default=0, metavar="MS",
                        help="wait this long before accepting each message (a slow server)")
    parser.add_argument("--idle-timeout", type=float, default=300, metavar="SECONDS",
                        help="close connections idle for this long")
    args = parser.parse_args()
    if uvloop is not None:
        uvloop.install()
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
