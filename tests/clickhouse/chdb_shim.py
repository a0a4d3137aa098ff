"""A loopback HTTP shim that runs ClickHouse SQL in chDB (ClickHouse in-process).

chDB has no server of its own. This shim answers the small part of
ClickHouse's HTTP interface that seglab's client uses, so the same tests run
against a current ClickHouse as against the packaged server:

- GET  /ping                               -> "Ok."
- POST /?query=SQL  (or the SQL as body)    -> the result as TabSeparated
- POST /?query=INSERT INTO db.t FORMAT RowBinary  with the rows as body

Errors answer 500 with ClickHouse's message. One request at a time (a chDB
session is not shared between threads); loopback only.
"""

import argparse
import os
import re
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

from chdb import session

INSERT = re.compile(
    r"^\s*INSERT\s+INTO\s+([A-Za-z0-9_.`]+)\s+FORMAT\s+RowBinary\s*$", re.IGNORECASE
)


class Shim(BaseHTTPRequestHandler):
    db = None
    spool = None

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/tab-separated-values; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/ping":
            return self.answer(200, b"Ok.\n")
        query = parse_qs(url.query).get("query", [""])[0]
        return self.run(query, b"")

    def do_POST(self):
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        query = parse_qs(url.query).get("query", [None])[0]
        if query is None:
            query, body = body.decode("utf-8"), b""
        return self.run(query, body)

    def run(self, query, body):
        try:
            m = INSERT.match(query)
            if m:
                table = m.group(1).replace("`", "")
                database, _, name = table.rpartition(".")
                structure = self.structure(database or "default", name)
                with open(self.spool, "wb") as f:
                    f.write(body)
                self.db.query(
                    f"INSERT INTO {table} SELECT * FROM file('{self.spool}', 'RowBinary', '{structure}')"
                )
                return self.answer(200, b"")
            if body:
                query = query + "\n" + body.decode("utf-8")
            result = self.db.query(query, "TabSeparated")
            return self.answer(200, result.bytes())
        except Exception as e:  # chDB raises on any failed query
            return self.answer(500, str(e).encode("utf-8"))

    def structure(self, database, table):
        rows = self.db.query(
            "SELECT name, type FROM system.columns "
            f"WHERE database = '{database}' AND table = '{table}' ORDER BY position",
            "TabSeparated",
        ).bytes().decode("utf-8")
        cols = [line.split("\t") for line in rows.splitlines() if line]
        return ", ".join(f"{n} {t}" for n, t in cols)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data", required=True)
    a = p.parse_args()
    os.makedirs(a.data, exist_ok=True)
    Shim.db = session.Session(os.path.join(a.data, "session"))
    Shim.spool = os.path.join(a.data, "insert.bin")
    print(f"chdb shim on 127.0.0.1:{a.port}", file=sys.stderr, flush=True)
    HTTPServer(("127.0.0.1", a.port), Shim).serve_forever()


if __name__ == "__main__":
    main()
