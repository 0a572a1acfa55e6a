"""Real-browser harness: Debian's Chromium driven by Playwright against pytest-django's
`live_server`.

- `browser` (session): one Chromium for the whole run; skipped, with the Debian package to
  install, when Chromium or the Python `playwright` package is missing (the root conftest
  turns that skip into a failure in CI).
- `page` (function): a fresh context (French locale, no shared cookies) on the live server,
  whose database is transactional so the server thread and the test see the same rows.
- Every page of every context opened through `browser` (the `page` fixture's and those a
  test opens itself) is watched for breaches of the Content-Security-Policy: the
  `securitypolicyviolation` event and the console's CSP and Subresource Integrity errors.
  Any one fails the test at teardown (`csp_breaches`). A test that provokes one on purpose
  reads and clears `page.csp_violations`.
- Every test under tests/e2e/ is marked `e2e`.

The journal's append-only triggers versus the flush after each transactional test are
handled once for the whole suite, in tests/conftest.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an asyncio loop in this thread; Django would otherwise refuse
# every ORM call made by the test code while a page is open.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

E2E_DIR = Path(__file__).resolve().parent
CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1280, "height": 900}
DEFAULT_TIMEOUT_MS = 15_000


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.path)).is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)


# --- Browser --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(
            "browser tests need the Python package `playwright` (requirements/dev.txt) "
            "and Debian's package `chromium` (apt-get install chromium)"
        )
    executable = shutil.which(str(CHROMIUM)) if CHROMIUM.exists() else None
    if executable is None:
        pytest.skip(
            f"browser tests need Debian's package `chromium` (apt-get install chromium): {CHROMIUM} not found"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield WatchedBrowser(chromium)
        chromium.close()


# Runs in every document and frame before the page's own scripts (Playwright's init scripts
# are not subject to the page's policy).
WATCH_CSP = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolation({
    page: event.documentURI, directive: event.effectiveDirective, blocked: event.blockedURI,
    source: event.sourceFile, line: event.lineNumber, sample: event.sample,
  });
}, true);
"""
# What Chromium writes to the console when the policy or an `integrity` attribute refuses
# something (some refusals, e.g. of a worker, raise no event in the page).
CONSOLE_BREACHES = ("Content Security Policy", "Content-Security-Policy", "integrity")


def watch_csp(context, violations: list) -> None:
    def on_violation(violation):
        violations.append(violation)

    context.expose_function("__cspViolation", on_violation)
    context.add_init_script(WATCH_CSP)

    def on_console(message):
        if message.type in ("error", "warning") and any(m in message.text for m in CONSOLE_BREACHES):
            violations.append({"console": message.text, "page": message.page.url if message.page else ""})

    context.on("console", on_console)


class WatchedBrowser:
    """Playwright's Browser, whose every new context is watched for CSP breaches, recorded in
    `violations` (a new list for each test)."""

    def __init__(self, browser):
        self._browser = browser
        self.violations: list[dict] = []

    def __getattr__(self, name):
        return getattr(self._browser, name)

    def new_context(self, **kwargs):
        context = self._browser.new_context(**kwargs)
        watch_csp(context, self.violations)
        return context


@pytest.fixture(autouse=True)
def csp_breaches(browser):
    """Fails the test, once its contexts are closed, if any page breached the policy."""
    browser.violations = violations = []
    yield violations
    if violations:
        pytest.fail(
            "Content-Security-Policy or Subresource Integrity breached:\n"
            + "\n".join(str(violation) for violation in violations)
        )


@pytest.fixture
def page(browser, live_server):
    """A new browser tab in a fresh context, with `page.base_url` set to the live server."""
    context = browser.new_context(
        base_url=live_server.url, locale="fr-FR", timezone_id="Europe/Paris", viewport=VIEWPORT
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    tab = context.new_page()
    tab.base_url = live_server.url
    tab.csp_violations = browser.violations
    yield tab
    context.close()
