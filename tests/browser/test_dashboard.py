"""The dashboard in a real browser.

A small demo store (`seglab demo --people 500`) is served by `seglab serve
--demo` on a free loopback port; Playwright drives Debian's Chromium against
it. Checked: a page without a session leads to the login page, a wrong token
is refused, the admin token logs in, every page loads with no console error
and no uncaught script error, the editor shows a did-you-mean diagnostic for a
typo and the count of a valid segment (and saves it), and the overview's
member counts move when an event arrives. A screenshot of every page is
written to target/screenshots/.

The binary comes from $SEGLAB_BIN, the browser from $CHROMIUM (run.sh sets
both).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

REPO = Path(__file__).resolve().parent.parent.parent
SEGLAB = os.environ.get("SEGLAB_BIN", str(REPO / "target" / "debug" / "seglab"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = REPO / "target" / "screenshots"
ADMIN_TOKEN = "adm_browser_test_token"
PEOPLE = 500
# What this machine's Chromium needs: no sandbox as root, no GPU, and none
# of the background connections a closed network refuses.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = 180.0


@dataclass
class Server:
    url: str
    write_key: str
    proc: subprocess.Popen
    log: Path

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    data = Path(tempfile.mkdtemp(prefix="seglab-browser-"))
    log = data / "serve.log"
    env = dict(os.environ, SEGLAB_LOG="warn")
    subprocess.run(
        [SEGLAB, "--data", str(data), "demo", "--people", str(PEOPLE)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        timeout=START_TIMEOUT,
    )
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                SEGLAB, "--data", str(data), "serve", "--demo",
                "--listen", f"127.0.0.1:{port}", "--admin-token", ADMIN_TOKEN,
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    srv = Server(url=url, write_key="", proc=proc, log=log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"seglab serve exited with {proc.returncode}:\n{srv.log_tail()}")
        match = re.search(r"write key\s+(\S+)", log.read_text(errors="replace"))
        if match:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                    if r.status == 200:
                        srv.write_key = match.group(1)
                        break
            except OSError:
                pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"seglab serve did not start:\n{srv.log_tail()}")
        time.sleep(0.2)
    yield srv
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


class Console:
    """Console errors and uncaught exceptions of a page."""

    def __init__(self, page: Page):
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def assert_clean(self, what: str) -> None:
        assert not self.errors, f"{what}: {self.errors}"


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def new_page(browser: Browser) -> tuple[BrowserContext, Page, Console]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    return context, page, Console(page)


def log_in(page: Page, server: Server, token: str = ADMIN_TOKEN) -> None:
    page.fill("#token", token)
    page.click("form.login button[type=submit]")


@pytest.fixture(scope="module")
def session(browser: Browser, server: Server):
    """A context logged in once, shared by the page tests."""
    context, page, console = new_page(browser)
    page.goto(f"{server.url}/ui/login")
    log_in(page, server)
    page.wait_for_url(f"{server.url}/ui")
    console.assert_clean("login")
    page.close()
    yield context
    context.close()


def test_login_is_required(browser: Browser, server: Server):
    context, page, console = new_page(browser)
    page.goto(f"{server.url}/ui/rfm")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Frfm$"))
    expect(page.locator("#token")).to_be_visible()
    screenshot(page, "login")
    page.goto(f"{server.url}/")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    # A wrong token: refused, still on the login page. (The 401 itself is
    # logged by Chromium as a failed resource; nothing else may be.)
    log_in(page, server, "adm_wrong")
    expect(page.locator("p.error")).to_contain_text("not an admin token")
    assert all("401" in e for e in console.errors), console.errors
    console.errors.clear()
    # The right one leads back to where the browser was going.
    page.goto(f"{server.url}/ui/rfm")
    log_in(page, server)
    expect(page).to_have_url(f"{server.url}/ui/rfm")
    expect(page.locator("h1")).to_have_text("RFM")
    # The cookie is not readable by scripts.
    assert page.evaluate("document.cookie") == ""
    cookie = next(c for c in context.cookies() if c["name"] == "seglab_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
    console.assert_clean("login")
    context.close()


PAGES = [
    ("overview", "/ui", "table#segments tbody tr"),
    ("segment", "/ui/segments/recent_buyers", "svg.chart"),
    ("editor", "/ui/editor", "#preview .preview-count"),
    ("overlap", "/ui/overlap", "svg.heatmap rect.heat"),
    ("rfm", "/ui/rfm", "svg.rfm rect.heat"),
    ("campaigns", "/ui/campaigns", "table.campaigns tbody tr"),
    ("experiments", "/ui/experiments", "table.data tbody tr"),
    ("experiment", "/ui/experiments/spring_offer", "svg.intervals"),
]


@pytest.mark.parametrize("name,path,selector", PAGES, ids=[p[0] for p in PAGES])
def test_every_page_loads_without_console_errors(session: BrowserContext, server: Server, name, path, selector):
    page = session.new_page()
    console = Console(page)
    response = page.goto(f"{server.url}{path}")
    assert response is not None and response.status == 200, (path, response and response.status)
    expect(page.locator(selector).first).to_be_visible()
    expect(page.locator("header.top nav")).to_be_visible()
    if name == "overview":
        expect(page.locator("#live")).to_have_attribute("data-state", "live")
    page.wait_for_load_state("networkidle") if name != "overview" else page.wait_for_timeout(300)
    screenshot(page, name)
    console.assert_clean(path)
    page.close()


def test_explain_one_member(session: BrowserContext, server: Server):
    page = session.new_page()
    console = Console(page)
    page.goto(f"{server.url}/ui/segments/recent_buyers")
    page.locator("#members a", has_text="explain").first.click()
    expect(page.locator("p.verdict")).to_contain_text("is in Recent buyers now")
    expect(page.locator("ul.explanation li.node.holds").first).to_be_visible()
    screenshot(page, "explain")
    console.assert_clean("explain")
    page.close()


def test_editor_diagnoses_a_typo_and_counts_a_valid_segment(session: BrowserContext, server: Server):
    page = session.new_page()
    console = Console(page)
    page.goto(f"{server.url}/ui/editor")
    source = page.locator("#source")
    source.fill("")
    source.press_sequentially('segment typo_check = did "Ordr Completed" in last 30d', delay=5)
    diagnostic = page.locator("#preview ul.diagnostics li").first
    expect(diagnostic).to_contain_text('did you mean "Order Completed"?')
    expect(diagnostic.locator(".at")).to_have_text("1:26")
    screenshot(page, "editor-typo")
    source.fill('segment big_spenders "Big spenders" =\n    sum("Order Completed".revenue in last 90d) >= 300')
    count = page.locator("#preview .preview-count")
    expect(count).to_be_visible()
    assert int(count.get_attribute("data-count")) > 0
    screenshot(page, "editor-count")
    page.click("form#editor button[type=submit]")
    expect(page).to_have_url(f"{server.url}/ui/segments/big_spenders")
    expect(page.locator("h1")).to_contain_text("Big spenders")
    console.assert_clean("editor")
    page.close()


def post_event(server: Server, body: dict) -> None:
    auth = base64.b64encode(f"{server.write_key}:".encode()).decode()
    req = urllib.request.Request(
        f"{server.url}/v1/track",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def test_overview_updates_live(session: BrowserContext, server: Server):
    page = session.new_page()
    console = Console(page)
    page.goto(f"{server.url}/ui")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    size = page.locator('tr[data-segment="recent_buyers"] .size')
    before = int(size.get_attribute("data-size"))
    post_event(server, {
        "userId": f"browser-{time.time_ns()}",
        "event": "Order Completed",
        "properties": {"revenue": 42},
    })
    page.wait_for_function(
        "before => Number(document.querySelector('tr[data-segment=\"recent_buyers\"] .size').dataset.size) > before",
        arg=before,
        timeout=15_000,
    )
    expect(page.locator("#recent-changes li.entered").first).to_contain_text("entered")
    page.wait_for_timeout(1700)  # let the highlight fade for the picture
    path = screenshot(page, "overview-live")
    if os.environ.get("SEGLAB_UPDATE_DOCS") == "1":
        shutil.copyfile(path, REPO / "docs" / "dashboard.png")
    console.assert_clean("overview")
    page.close()
