"""Playwright driving Debian's chromium (installed by `make setup`; never a downloaded browser), against a live
server that serves as production does: hashed static file names from a collected folder (WhiteNoise's
manifest storage), so a page that reaches for an unhashed name fails here as it would under `make run`.

Every browser a test opens watches every page of every context it makes: an uncaught error, a Content
Security Policy violation, or a request that failed (a 4xx/5xx answer, or a network error) fails the test
when the browser closes — unless the test said it expects it (`Browser.allow`, e.g. a deliberate 409). The
base-map tiles are the one exception everywhere: the tests run without a tile server, as an intranet may."""

import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
# Flags for a headless root session on a machine with no outside network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
PRODUCTION_STATIC = "whitenoise.storage.CompressedManifestStaticFilesStorage"  # as settings.py with DEBUG=0


@dataclass(frozen=True)
class Expected:
    """A failure a test expects: the URL matches `url` (a regular expression), and the answer has this
    `status` (None: any) or the request failed with an error containing `failure`."""

    url: str
    status: int | None = None
    failure: str | None = None

    def covers(self, url: str, status: int | None = None, failure: str | None = None) -> bool:
        if not re.search(self.url, url):
            return False
        if failure is not None:
            return self.failure is not None and self.failure in failure
        return self.failure is None and (self.status is None or self.status == status)


def _tile_origin() -> str:
    from django.conf import settings

    parts = urlsplit(settings.TILE_URL.replace("{s}", "a"))
    return f"{parts.scheme}://{parts.netloc}"


class Browser:
    """A chromium whose contexts report every problem of every page they open (see the module's doc)."""

    def __init__(self, browser):
        self._browser = browser
        self.expected: list[Expected] = []
        self.problems: list[str] = []
        self.contexts = []

    def allow(self, url: str, status: int | None = None, failure: str | None = None) -> None:
        """Expect this failure from now on (a deliberate 409, the network switched off…)."""
        self.expected.append(Expected(url, status, failure))

    def new_context(self, **options):
        context = self._browser.new_context(**options)
        self.contexts.append(context)
        # Context-wide: pages opened later (a second tab, a popup) are watched as well.
        context.on("weberror", lambda e: self.problems.append(f"uncaught error: {e.error}"))
        context.on("console", self._console)
        context.on("response", self._response)
        context.on("requestfailed", self._failed)
        return context

    def new_page(self, **options):
        return self.new_context(**options).new_page()

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.problems.append(f"CSP: {message.text}")

    def _response(self, response) -> None:
        if response.status >= 400 and not self._expected(response.url, status=response.status):
            self.problems.append(f"{response.request.method} {response.url} → {response.status}")

    def _failed(self, request) -> None:
        error = request.failure or ""
        # Aborted: the page navigated, closed, or dropped a request it no longer needed (a live stream, a tile).
        if "ERR_ABORTED" in error or self._expected(request.url, failure=error):
            return
        self.problems.append(f"{request.method} {request.url} failed: {error}")

    def _expected(self, url: str, status: int | None = None, failure: str | None = None) -> bool:
        if url.startswith(_tile_origin() + "/"):
            return True  # no tile server here: the pages must draw without one
        return any(e.covers(url, status, failure) for e in self.expected)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def screenshot_dir() -> Path:
    """Where the browser tests save their screenshots: var/screenshots, or SCREENSHOTS (relative to the
    checkout or absolute). The committed ones are refreshed on purpose only: SCREENSHOTS=docs/screenshots."""
    target = Path(os.environ.get("SCREENSHOTS") or "var/screenshots")
    target = target if target.is_absolute() else ROOT / target
    target.mkdir(parents=True, exist_ok=True)
    return target


@contextmanager
def browser():
    """A watched chromium: the test fails when it closes if any page had a problem it did not expect."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the tests still call the ORM synchronously
    # between browser steps (to make a report happen, to check what was stored), which is safe here.
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            watched = Browser(b)
            try:
                yield watched
                watched.close()
            finally:
                b.close()
            assert watched.problems == [], "problems on the pages:\n" + "\n".join(watched.problems)
    finally:
        if before is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


def collect_static(root: Path) -> None:
    """The static files as `make run` serves them: collected, hashed and compressed (again only when the sources
    changed since `make` collected them there)."""
    import fcntl

    from django.test.utils import override_settings

    from citygrid.management.commands.refresh_static import refresh

    root.mkdir(parents=True, exist_ok=True)
    # One collection at a time into the folder: each pytest-xdist worker's live server collects on start.
    with open(root.parent / f".{root.name}.lock", "w") as lock, \
            override_settings(STATIC_ROOT=root, STORAGES=production_storages()):
        fcntl.flock(lock, fcntl.LOCK_EX)
        refresh()


def production_storages() -> dict:
    from django.conf import settings

    return {**settings.STORAGES, "staticfiles": {"BACKEND": PRODUCTION_STATIC}}


def start_live_server(addr: str):
    """pytest-django's live server, but its static files come from WhiteNoise's middleware reading the collected
    folder (as gunicorn serves them), not from the finders' unhashed originals."""
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer(addr, start=False)
    server.thread.static_handler = lambda app: app
    server.start()
    return server


def login(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.login button")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
