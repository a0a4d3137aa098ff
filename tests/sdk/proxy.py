"""A tiny fault-injecting HTTP reverse proxy: a flaky network in front of seglab.

Every request (method, path, query, headers, body) is forwarded to the upstream
seglab server. The first ``fail_first`` POST requests whose path is in ``paths``
are still forwarded and fully processed upstream, and only then is the client
answered with a fault:

* ``"500"``:  ``500 {"code":"internal","message":"injected"}`` instead of the
  upstream answer;
* ``"drop"``: the client connection is closed without any response.

All later requests pass through unchanged. The client therefore cannot know that
the server already committed the batch, and a correct SDK resends it: seglab has
to deduplicate on messageId.

Use in-process::

    proxy = FaultProxy("http://127.0.0.1:8080", fail_first=2, mode="drop")
    port = proxy.start()        # listens on 127.0.0.1, port chosen by the OS
    ...
    proxy.stop()
    proxy.faults                # one Fault per injected fault

or from a shell::

    python proxy.py --upstream http://127.0.0.1:8080 --fail-first 2 --mode 500

Standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("500", "drop")

# Paths that carry ingestion batches, for Segment/RudderStack and PostHog clients.
DEFAULT_PATHS = frozenset(
    {
        "/v1/batch",
        "/v1/import",
        "/v1/b",
        "/batch",
        "/batch/",
    }
)

INJECTED_BODY = json.dumps({"code": "internal", "message": "injected"}).encode()

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


@dataclass(frozen=True)
class Fault:
    """One injected fault: which request, which mode, what the upstream had answered."""

    method: str
    path: str
    mode: str
    upstream_status: int
    upstream_body: bytes


@dataclass(frozen=True)
class Forwarded:
    """One request forwarded upstream and the upstream's answer."""

    method: str
    path: str
    upstream_status: int
    faulted: bool


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        fail_first: int = 0,
        mode: str = "500",
        paths=DEFAULT_PATHS,
        host: str = "127.0.0.1",
        port: int = 0,
        upstream_timeout: float = 30.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
            raise ValueError(f"upstream must look like http://HOST:PORT, got {upstream!r}")
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port
        self.fail_first = int(fail_first)
        self.mode = mode
        self.paths = frozenset(paths)
        self.upstream_timeout = upstream_timeout
        self._bind = (host, port)
        self._lock = threading.Lock()
        self._matched = 0
        self._faults: list[Fault] = []
        self._forwarded: list[Forwarded] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- statistics ---------------------------------------------------------

    @property
    def matched(self) -> int:
        """POST requests seen whose path is in the fault path set."""
        with self._lock:
            return self._matched

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    @property
    def forwarded(self) -> list[Forwarded]:
        """Every request that reached the upstream, faulted or not."""
        with self._lock:
            return list(self._forwarded)

    @property
    def forwarded_count(self) -> int:
        with self._lock:
            return len(self._forwarded)

    # -- lifecycle ----------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("proxy not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> int:
        if self._server is not None:
            raise RuntimeError("proxy already started")
        handler = type("BoundHandler", (_Handler,), {"proxy": self})
        server = _Server(self._bind, handler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="fault-proxy", daemon=True
        )
        self._thread.start()
        return self.port

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FaultProxy":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- per request --------------------------------------------------------

    def _decide(self, method: str, path: str) -> str | None:
        """Returns the fault mode for this request, or None to pass it through."""
        if method != "POST" or path not in self.paths:
            return None
        with self._lock:
            index = self._matched
            self._matched += 1
        return self.mode if index < self.fail_first else None

    def _record(self, method: str, path: str, status: int, body: bytes, fault: str | None) -> None:
        with self._lock:
            self._forwarded.append(Forwarded(method, path, status, fault is not None))
            if fault is not None:
                self._faults.append(Fault(method, path, fault, status, body))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    proxy: FaultProxy  # set on the bound subclass
    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections end on their own

    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers, up to the empty line
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        if not any(name.lower() == "date" for name, _ in headers):
            self.send_header("Date", self.date_time_string())
        for name, value in headers:
            self.send_header(name, value)
        if self.command != "HEAD" or body:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.wfile.flush()

    def _handle(self) -> None:
        proxy = self.proxy
        body = self._read_body()
        path = urllib.parse.urlsplit(self.path).path
        fault = proxy._decide(self.command, path)

        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))

        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=proxy.upstream_timeout)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            resp_body = resp.read()
            resp_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
            status = resp.status
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            proxy._record(self.command, path, 0, b"", None)
            msg = json.dumps({"code": "bad_gateway", "message": f"upstream: {e}"}).encode()
            self.close_connection = True
            self._send(502, [("Content-Type", "application/json")], msg)
            return
        finally:
            conn.close()

        proxy._record(self.command, path, status, resp_body, fault)

        if fault == "drop":
            # Close the client connection without a single byte of response.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault == "500":
            self._send(500, [("Content-Type", "application/json")], INJECTED_BODY)
            return
        self._send(status, resp_headers, resp_body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="http://HOST:PORT of the seglab server")
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to listen on (port 0: any free port)")
    parser.add_argument("--fail-first", type=int, default=2, help="fail this many matching POST requests")
    parser.add_argument("--mode", choices=MODES, default="500")
    parser.add_argument(
        "--paths", default=",".join(sorted(DEFAULT_PATHS)), help="comma-separated request paths subject to faults"
    )
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    proxy = FaultProxy(
        args.upstream,
        fail_first=args.fail_first,
        mode=args.mode,
        paths=[p for p in args.paths.split(",") if p],
        host=host or "127.0.0.1",
        port=int(port),
    )
    proxy.start()
    print(proxy.port, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
        print(f"matched={proxy.matched} faults={len(proxy.faults)} forwarded={proxy.forwarded_count}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
