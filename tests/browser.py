"""Playwright driving Debian's chromium (installed by `make setup`; never a downloaded browser)."""

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
# Flags for a headless root session on a machine with no outside network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


def screenshot_dir() -> Path:
    """Where the browser tests save their screenshots: var/screenshots, or SCREENSHOTS (relative to the
    checkout or absolute). The committed ones are refreshed on purpose only: SCREENSHOTS=docs/screenshots."""
    target = Path(os.environ.get("SCREENSHOTS") or "var/screenshots")
    target = target if target.is_absolute() else ROOT / target
    target.mkdir(parents=True, exist_ok=True)
    return target


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the tests still call the ORM synchronously
    # between browser steps (to make a report happen, to check what was stored), which is safe here.
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                yield b
            finally:
                b.close()
    finally:
        if before is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


def login(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.login button")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
