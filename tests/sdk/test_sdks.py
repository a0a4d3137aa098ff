"""End-to-end tests: real analytics SDKs against a real seglab server.

Each client (segment-analytics-python, rudder-sdk-python, posthog-python and
@segment/analytics-node) sends a small journey — anonymous activity, identify with
traits, track, page, screen, group, alias — and the test then reads everything
back through the admin API (`/api/v1/events`, `/api/v1/people/{id}`) and checks
that every message is stored exactly once, on one stitched person, with traits.

The same journeys are then sent through proxy.py, a flaky network that lets seglab
commit a batch and then answers 500 or drops the connection. The SDKs resend the
batch with the same messageIds, and seglab must still store each event exactly once.

The server binary comes from $SEGLAB_BIN (default <repo>/target/debug/seglab).
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

from proxy import FaultProxy  # noqa: E402

ADMIN_TOKEN = "test-admin-token"
SEGMENT_BATCH_PATHS = {"/v1/batch"}
POSTHOG_BATCH_PATHS = {"/batch/", "/batch"}
SDKS = ["segment-python", "rudder-python", "posthog-python", "segment-node"]
FAULT_MODES = ["500", "drop"]
FAULTS = 2  # batch posts that fail after seglab committed them
# What seglab answers a successful batch: Segment's and RudderStack's API body,
# or, on the PostHog capture paths, PostHog's own `{"status": 1}` (posthog SDKs
# look only at the 200).
SUCCESS_BODIES = {
    "segment-python": [{"success": True}],
    "rudder-python": [{"success": True}],
    "posthog-python": [{"success": True}, {"status": 1}],
    "segment-node": [{"success": True}],
}
FLUSH_TIMEOUT = 60.0
STORE_TIMEOUT = 15.0


# --------------------------------------------------------------------------
# The server under test
# --------------------------------------------------------------------------


@dataclass
class Seglab:
    url: str
    write_key: str
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen

    def log_tail(self, n: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "<no log>"
        return "\n".join(lines[-n:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seglab_bin() -> Path:
    return Path(os.environ.get("SEGLAB_BIN") or REPO / "target" / "debug" / "seglab")


@pytest.fixture(scope="session")
def seglab(tmp_path_factory) -> Seglab:
    binary = _seglab_bin()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"seglab binary not found at {binary} (build it with `cargo build`, or set SEGLAB_BIN)")

    root = tmp_path_factory.mktemp("seglab")
    data_dir = root / "data"
    data_dir.mkdir()
    log_path = root / "seglab.log"
    env = {**os.environ, "SEGLAB_ADMIN_TOKEN": ADMIN_TOKEN}

    keys = subprocess.run(
        [str(binary), "keys", "create", "--data", str(data_dir), "sdk-tests"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert keys.returncode == 0, f"`seglab keys create` failed ({keys.returncode}):\n{keys.stdout}\n{keys.stderr}"
    out_lines = [line for line in keys.stdout.splitlines() if line.strip()]
    assert len(out_lines) == 1, f"`seglab keys create` must print only the key, got stdout:\n{keys.stdout}"
    write_key = out_lines[0].strip()

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [str(binary), "serve", "--data", str(data_dir), "--listen", f"127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    server = Seglab(url=url, write_key=write_key, data_dir=data_dir, log_path=log_path, proc=proc)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"seglab serve exited with {proc.returncode} before /healthz answered:\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"seglab /healthz did not answer 200 within 30 s:\n{server.log_tail()}")
            time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()


# --------------------------------------------------------------------------
# Admin API helpers
# --------------------------------------------------------------------------


def api_get(server: Seglab, path: str) -> tuple[int, object]:
    req = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def all_events(server: Seglab) -> list[dict]:
    events: list[dict] = []
    after = 0
    for _ in range(10_000):
        status, body = api_get(server, f"/api/v1/events?after={after}&limit=1000")
        assert status == 200, f"GET /api/v1/events?after={after}&limit=1000 -> {status} {body!r}"
        page = body["events"]
        events.extend(page)
        nxt = body["next"]
        if nxt is None:
            return events
        assert page, f"/api/v1/events returned next={nxt} with an empty page"
        assert nxt > after, f"/api/v1/events cursor did not advance: after={after} next={nxt}"
        after = nxt
    raise AssertionError("/api/v1/events paging did not end")


def wait_for_messages(server: Seglab, message_ids: list[str]) -> tuple[dict[str, list[dict]], list[dict]]:
    """Polls until every message id is stored (or STORE_TIMEOUT), returns them by id and all events."""
    wanted = set(message_ids)
    deadline = time.monotonic() + STORE_TIMEOUT
    while True:
        events = all_events(server)
        by_id: dict[str, list[dict]] = {}
        for ev in events:
            if ev.get("message_id") in wanted:
                by_id.setdefault(ev["message_id"], []).append(ev)
        if set(by_id) == wanted or time.monotonic() > deadline:
            return by_id, events
        time.sleep(0.2)


def get_person(server: Seglab, some_id: str) -> dict:
    status, body = api_get(server, "/api/v1/people/" + urllib.parse.quote(some_id, safe=""))
    assert status == 200, f"GET /api/v1/people/{some_id} -> {status} {body!r}"
    return body


def bounded(fn, timeout: float, what: str) -> None:
    """Runs fn in a thread and fails the test if it does not return in time (SDK flushes can block)."""
    box: dict = {}

    def run():
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the test thread
            box["error"] = e

    t = threading.Thread(target=run, name=what, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        pytest.fail(f"{what} did not finish within {timeout} s")
    if "error" in box:
        raise box["error"]


# --------------------------------------------------------------------------
# What a journey sends and what must come out
# --------------------------------------------------------------------------


@dataclass
class Ids:
    run: str
    anon: str
    user: str
    new_user: str
    group: str

    @classmethod
    def new(cls, sdk: str, mode: str) -> "Ids":
        run = f"{sdk}-{mode}-{uuid.uuid4().hex[:12]}"
        return cls(run=run, anon=f"anon-{run}", user=f"user-{run}", new_user=f"user2-{run}", group=f"group-{run}")


@dataclass
class Expected:
    message_id: str
    type: str
    event: str | None = None  # track: the event name
    name: str | None = None  # page/screen: the name
    properties: dict = field(default_factory=dict)  # must be a subset of the stored properties
    user_id: str | None = None  # checked when `check_ids`
    anonymous_id: str | None = None
    check_ids: bool = True
    distinct_id: str | None = None  # PostHog: must be the stored user_id or anonymous_id


@dataclass
class Journey:
    ids: Ids
    expected: list[Expected]
    person_traits: dict  # trait -> value expected on the stitched person
    errors: list = field(default_factory=list)  # delivery errors the SDK reported
    extra: dict = field(default_factory=dict)


def segment_style_journey(ids: Ids, prefix: str) -> tuple[list[tuple[str, dict]], Journey]:
    """The calls for a Segment-API client (python kwargs) and what seglab must store for them."""
    mid = lambda name: f"{prefix}-{name}-{ids.run}"  # noqa: E731
    traits = {"email": f"{ids.user}@example.com", "plan": "pro", "logins": 3}
    viewed = {"product_id": f"p-{ids.run}", "price": 19.99, "currency": "EUR"}
    order = {"order_id": f"o-{ids.run}", "revenue": 42.5, "currency": "EUR", "products": [{"sku": "sku-1", "quantity": 2}]}
    page_props = {"url": "https://example.com/pricing", "title": "Pricing"}
    calls = [
        ("track", dict(anonymous_id=ids.anon, event="Product Viewed", properties=viewed, message_id=mid("track-anon"))),
        ("identify", dict(user_id=ids.user, anonymous_id=ids.anon, traits=dict(traits), message_id=mid("identify"))),
        ("track", dict(user_id=ids.user, event="Order Completed", properties=order, message_id=mid("track"))),
        (
            "page",
            dict(
                user_id=ids.user,
                anonymous_id=ids.anon,
                category="Docs",
                name="Pricing",
                properties=page_props,
                message_id=mid("page"),
            ),
        ),
        ("screen", dict(user_id=ids.user, name="Home", properties={"variant": "b"}, message_id=mid("screen"))),
        (
            "group",
            dict(user_id=ids.user, group_id=ids.group, traits={"name": f"Acme {ids.run}", "employees": 11}, message_id=mid("group")),
        ),
        ("alias", dict(previous_id=ids.user, user_id=ids.new_user, message_id=mid("alias"))),
    ]
    expected = [
        Expected(mid("track-anon"), "track", event="Product Viewed", properties=viewed, anonymous_id=ids.anon),
        Expected(mid("identify"), "identify", user_id=ids.user, anonymous_id=ids.anon),
        Expected(mid("track"), "track", event="Order Completed", properties=order, user_id=ids.user),
        Expected(mid("page"), "page", name="Pricing", properties=page_props, user_id=ids.user, anonymous_id=ids.anon),
        Expected(mid("screen"), "screen", name="Home", properties={"variant": "b"}, user_id=ids.user),
        Expected(mid("group"), "group", user_id=ids.user),
        Expected(mid("alias"), "alias", user_id=ids.new_user),
    ]
    return calls, Journey(ids=ids, expected=expected, person_traits=traits)


# --------------------------------------------------------------------------
# Senders, one per SDK. `host` is seglab itself or the fault proxy.
# --------------------------------------------------------------------------


def send_segment_python(host: str, write_key: str, ids: Ids) -> Journey:
    from segment.analytics import Client

    calls, journey = segment_style_journey(ids, "segpy")
    # Retries: 5xx (except 501/505) and any network exception, up to max_retries
    # times; the first retry is immediate, then 0.5 s, 1 s, ... (consumer.py).
    client = Client(
        write_key,
        host=host,
        max_retries=5,
        timeout=10,
        upload_interval=0.2,
        max_total_backoff_duration=60,
        on_error=lambda e, batch: journey.errors.append(f"{e!r} ({len(batch)} messages)"),
    )
    for method, kwargs in calls:
        ok, _ = getattr(client, method)(**kwargs)
        assert ok, f"segment client refused to queue {method}"
    bounded(client.flush, FLUSH_TIMEOUT, "segment flush")
    bounded(client.join, FLUSH_TIMEOUT, "segment join")
    return journey


def send_rudder_python(host: str, write_key: str, ids: Ids) -> Journey:
    from rudderstack.analytics.client import Client

    calls, journey = segment_style_journey(ids, "rudpy")
    # gzip=True is the SDK's default; set explicitly since it is part of what is tested.
    # Retries: backoff.expo (full jitter, 1 s, 2 s, ...) on anything except a 4xx
    # APIError other than 429, i.e. on 5xx and on connection errors (consumer.py).
    client = Client(
        write_key,
        host=host,
        gzip=True,
        max_retries=5,
        timeout=10,
        upload_interval=0.2,
        on_error=lambda e, batch: journey.errors.append(f"{e!r} ({len(batch)} messages)"),
    )
    for method, kwargs in calls:
        ok, _ = getattr(client, method)(**kwargs)
        assert ok, f"rudder client refused to queue {method}"
    bounded(client.flush, FLUSH_TIMEOUT, "rudder flush")
    bounded(client.join, FLUSH_TIMEOUT, "rudder join")
    return journey


def send_posthog_python(host: str, write_key: str, ids: Ids) -> Journey:
    from posthog import Posthog

    mids = {name: str(uuid.uuid4()) for name in ("viewed", "identify", "set", "order", "pageview", "screen", "group", "alias")}
    traits = {"email": f"{ids.user}@example.com", "plan": "pro"}
    viewed = {"product_id": f"p-{ids.run}", "price": 19.99}
    order = {"order_id": f"o-{ids.run}", "revenue": 42.5, "currency": "EUR"}
    journey = Journey(
        ids=ids,
        expected=[
            Expected(mids["viewed"], "track", event="Product Viewed", properties=viewed, check_ids=False, distinct_id=ids.anon),
            Expected(mids["identify"], "identify", check_ids=False, distinct_id=ids.user),
            Expected(mids["set"], "identify", check_ids=False, distinct_id=ids.user),
            Expected(mids["order"], "track", event="Order Completed", properties=order, check_ids=False, distinct_id=ids.user),
            Expected(mids["pageview"], "page", check_ids=False, distinct_id=ids.user),
            Expected(mids["screen"], "screen", check_ids=False, distinct_id=ids.user),
            Expected(mids["group"], "group", check_ids=False, distinct_id=ids.user),
            Expected(mids["alias"], "alias", check_ids=False),
        ],
        person_traits={**traits, "company_size": 50},
    )
    # gzip=True sends Content-Encoding: gzip. Retries (consumer.py `_send`): every
    # exception except a 4xx APIError other than 408/429 — so 5xx and connection
    # errors — up to max_retries times, sleeping 1 s, 2 s, 4 s, ... in between.
    client = Posthog(
        write_key,
        host=host,
        gzip=True,
        max_retries=5,
        timeout=10,
        flush_at=100,
        flush_interval=0.2,
        capture_mode="v0",
        on_error=lambda e, batch: journey.errors.append(f"{e!r} ({len(batch)} messages)"),
    )
    sent = [
        client.capture("Product Viewed", distinct_id=ids.anon, properties=viewed, uuid=mids["viewed"]),
        client.capture(
            "$identify",
            distinct_id=ids.user,
            properties={"$anon_distinct_id": ids.anon, "$set": traits},
            uuid=mids["identify"],
        ),
        client.set(distinct_id=ids.user, properties={"company_size": 50}, uuid=mids["set"]),
        client.capture("Order Completed", distinct_id=ids.user, properties=order, uuid=mids["order"]),
        client.capture(
            "$pageview",
            distinct_id=ids.user,
            properties={"$current_url": "https://example.com/pricing", "title": "Pricing"},
            uuid=mids["pageview"],
        ),
        client.capture("$screen", distinct_id=ids.user, properties={"$screen_name": "Home"}, uuid=mids["screen"]),
        client.group_identify("company", ids.group, {"name": f"Acme {ids.run}"}, distinct_id=ids.user, uuid=mids["group"]),
        client.alias(previous_id=ids.user, distinct_id=ids.new_user, uuid=mids["alias"]),
    ]
    assert sent == [e.message_id for e in journey.expected], f"posthog did not queue with the given uuids: {sent}"
    bounded(lambda: client.flush(timeout_seconds=FLUSH_TIMEOUT), FLUSH_TIMEOUT + 5, "posthog flush")
    bounded(client.shutdown, FLUSH_TIMEOUT, "posthog shutdown")
    return journey


def send_segment_node(host: str, write_key: str, ids: Ids) -> Journey:
    node = shutil.which("node")
    assert node, "node is not on PATH"
    assert (HERE / "node_modules" / "@segment" / "analytics-node").is_dir(), "run tests/sdk/setup.sh first"
    _, journey = segment_style_journey(ids, "node")
    cfg = {
        "host": host,
        "writeKey": write_key,
        "anonymousId": ids.anon,
        "userId": ids.user,
        "newUserId": ids.new_user,
        "groupId": ids.group,
        "runId": ids.run,
        # Retries (publisher.js): 5xx except 501/505/511, 408/410/429/460 and any
        # fetch error, up to maxRetries, backoff 0.5 s * 2^n * (1..2).
        "maxRetries": 5,
        "httpRequestTimeout": 10000,
        "flushTimeout": 45000,
    }
    proc = subprocess.run(
        [node, str(HERE / "send_node.js"), json.dumps(cfg)],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"send_node.js failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["messageIds"] == [e.message_id for e in journey.expected]
    journey.errors.extend(report["errors"])
    journey.extra["http_requests"] = sum(1 for a in report["attempts"] if a["kind"] == "request")
    journey.extra["http_statuses"] = [a["status"] for a in report["attempts"] if a["kind"] == "response"]
    return journey


SENDERS = {
    "segment-python": send_segment_python,
    "rudder-python": send_rudder_python,
    "posthog-python": send_posthog_python,
    "segment-node": send_segment_node,
}
FAULT_PATHS = {
    "segment-python": SEGMENT_BATCH_PATHS,
    "rudder-python": SEGMENT_BATCH_PATHS,
    "posthog-python": POSTHOG_BATCH_PATHS,
    "segment-node": SEGMENT_BATCH_PATHS,
}


# --------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------


def verify_journey(server: Seglab, journey: Journey) -> None:
    assert not journey.errors, f"the SDK reported delivery failures: {journey.errors}"
    ids = journey.ids
    wanted = [e.message_id for e in journey.expected]
    by_id, events = wait_for_messages(server, wanted)

    missing = [m for m in wanted if m not in by_id]
    dupes = {m: len(v) for m, v in by_id.items() if len(v) != 1}
    assert not missing, f"events never stored: {missing}\nserver log:\n{server.log_tail()}"
    assert not dupes, f"events stored more than once (message_id: count): {dupes}"

    # Nothing else was stored for this journey's ids (no copies under new message ids).
    ours = {ids.anon, ids.user, ids.new_user}
    related = [ev for ev in events if ev.get("user_id") in ours or ev.get("anonymous_id") in ours]
    assert sorted(ev["message_id"] for ev in related) == sorted(wanted), (
        "events stored for this journey's ids differ from what was sent:\n"
        + json.dumps([{k: ev.get(k) for k in ("seq", "message_id", "type", "event")} for ev in related], indent=1)
    )

    # One person for the anonymous id, the user id and the aliased id.
    person = get_person(server, ids.anon)
    pid = person["person_id"]
    for other in (ids.user, ids.new_user, str(pid)):
        assert get_person(server, other)["person_id"] == pid, f"{other} is not stitched to person {pid}"
    assert {ids.anon, ids.user, ids.new_user} <= set(person["ids"]), f"person ids: {person['ids']}"
    for trait, value in journey.person_traits.items():
        assert trait in person["traits"], f"trait {trait!r} missing on person: {person['traits']}"
        assert person["traits"][trait]["value"] == value, f"trait {trait!r}: {person['traits'][trait]}"
        assert person["traits"][trait].get("updated_at"), f"trait {trait!r} has no updated_at"
    assert person["event_count"] == len(wanted), f"person event_count {person['event_count']} != {len(wanted)} sent"
    person_event_ids = [ev.get("message_id") for ev in person.get("events", [])]
    assert set(person_event_ids) <= set(wanted) and len(person_event_ids) == len(set(person_event_ids)), person_event_ids

    for exp in journey.expected:
        (ev,) = by_id[exp.message_id]
        where = f"event {exp.message_id}: {json.dumps(ev)}"
        assert ev["type"] == exp.type, where
        assert ev["person_id"] == pid, where
        assert ev["historical"] is False, where
        assert isinstance(ev["seq"], int) and ev["seq"] > 0, where
        assert ev.get("timestamp") and ev.get("received_at"), where
        if exp.event is not None:
            assert ev["event"] == exp.event, where
        if exp.name is not None:
            assert ev["name"] == exp.name, where
        props = ev.get("properties") or {}
        for key, value in exp.properties.items():
            assert props.get(key) == value, f"property {key!r}: {where}"
        if exp.check_ids:
            assert ev["user_id"] == exp.user_id, where
            if exp.anonymous_id is not None:
                assert ev["anonymous_id"] == exp.anonymous_id, where
        if exp.distinct_id is not None:
            assert exp.distinct_id in (ev["user_id"], ev["anonymous_id"]), where


def _identify_event(journey: Journey, by_id_events: list[dict]) -> dict:
    ident = next(e for e in journey.expected if e.type == "identify")
    return next(ev for ev in by_id_events if ev["message_id"] == ident.message_id)


# --------------------------------------------------------------------------
# Tests against seglab
# --------------------------------------------------------------------------


@pytest.mark.parametrize("sdk", SDKS)
def test_sdk_direct(seglab: Seglab, sdk: str) -> None:
    journey = SENDERS[sdk](seglab.url, seglab.write_key, Ids.new(sdk, "direct"))
    verify_journey(seglab, journey)
    # identify traits are on the stored event too (RudderStack sends them in context.traits).
    events = all_events(seglab)
    ev = _identify_event(journey, events)
    traits = ev.get("traits") or {}
    ctx_traits = (ev.get("context") or {}).get("traits") or {}
    assert traits.get("email") == journey.person_traits["email"] or ctx_traits.get("email") == journey.person_traits["email"], (
        f"identify event carries no email trait: {json.dumps(ev)}"
    )
    if sdk == "segment-node":
        assert journey.extra["http_requests"] == 1, journey.extra
        assert journey.extra["http_statuses"] == [200], journey.extra


@pytest.mark.parametrize("mode", FAULT_MODES)
@pytest.mark.parametrize("sdk", SDKS)
def test_sdk_flaky_network(seglab: Seglab, sdk: str, mode: str) -> None:
    ids = Ids.new(sdk, f"fault{mode}")
    with FaultProxy(seglab.url, fail_first=FAULTS, mode=mode, paths=FAULT_PATHS[sdk]) as proxy:
        journey = SENDERS[sdk](proxy.url, seglab.write_key, ids)

    # The faults really happened, each after seglab had accepted the batch.
    faults = proxy.faults
    assert len(faults) == FAULTS, f"expected {FAULTS} injected faults, got {faults}"
    for f in faults:
        assert f.mode == mode
        assert f.upstream_status == 200, f"seglab did not accept the batch behind an injected fault: {f}"
        assert json.loads(f.upstream_body) in SUCCESS_BODIES[sdk], f.upstream_body
    # ... and the SDK resent after each of them.
    assert proxy.matched >= FAULTS + 1, f"the SDK did not retry: {proxy.matched} batch posts"
    statuses = [f.upstream_status for f in proxy.forwarded]
    assert all(s == 200 for s in statuses), f"seglab answered {statuses}"
    if sdk == "segment-node":
        assert journey.extra["http_requests"] == proxy.matched, (journey.extra, proxy.matched)

    verify_journey(seglab, journey)


def test_unknown_person_is_404(seglab: Seglab) -> None:
    status, body = api_get(seglab, "/api/v1/people/" + "nobody-" + uuid.uuid4().hex)
    assert status == 404, body
    assert isinstance(body, dict) and body.get("code") == "not_found", body


def test_admin_api_needs_token(seglab: Seglab) -> None:
    try:
        with urllib.request.urlopen(seglab.url + "/api/v1/events?after=0&limit=1", timeout=10) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    assert status in (401, 403)


# --------------------------------------------------------------------------
# The fault proxy itself, against a stub upstream (no seglab needed)
# --------------------------------------------------------------------------


class _Stub:
    """A minimal upstream that records what it received and answers 200 {"success":true}."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, dict, bytes]] = []
        stub = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                stub.received.append((self.command, self.path, dict(self.headers.items()), body))
                out = b'{"success":true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    s = _Stub()
    yield s
    s.close()


def _post(port: int, path: str, body: bytes, headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_proxy_injects_500_after_upstream(stub) -> None:
    with FaultProxy(stub.url, fail_first=2, mode="500", paths={"/v1/batch"}) as proxy:
        gz = gzip.compress(b'{"batch":[]}')
        results = [_post(proxy.port, "/v1/batch?x=1", gz, {"Content-Encoding": "gzip"}) for _ in range(3)]
        other = _post(proxy.port, "/v1/track", b"{}")
    for status, body in results[:2]:
        assert (status, json.loads(body)) == (500, {"code": "internal", "message": "injected"})
    assert results[2] == (200, b'{"success":true}')
    assert other == (200, b'{"success":true}')
    assert [r[1] for r in stub.received] == ["/v1/batch?x=1"] * 3 + ["/v1/track"]
    assert all(r[3] == gz and r[2].get("Content-Encoding") == "gzip" for r in stub.received[:3])
    assert proxy.matched == 3 and len(proxy.faults) == 2 and proxy.forwarded_count == 4
    assert all(f.upstream_status == 200 for f in proxy.faults)


def test_proxy_drops_after_upstream(stub) -> None:
    with FaultProxy(stub.url, fail_first=1, mode="drop", paths={"/batch/"}) as proxy:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            _post(proxy.port, "/batch/", b'{"batch":[]}')
        assert _post(proxy.port, "/batch/", b'{"batch":[]}') == (200, b'{"success":true}')
    assert len(stub.received) == 2
    assert [f.mode for f in proxy.faults] == ["drop"]
