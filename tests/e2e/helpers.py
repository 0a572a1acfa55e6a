"""Helpers for the browser tests: accessibility audit (axe-core), screenshots, TOTP timing."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pyotp
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
AXE_REPORTS = ARTIFACTS / "axe"

# WCAG 2.0, 2.1 and 2.2, levels A and AA: what the RGAA (French accessibility standard) covers.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING_IMPACTS = {"serious", "critical"}


def _format_violation(violation: dict) -> str:
    lines = [f"- [{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})"]
    for node in violation["nodes"][:10]:
        target = " ".join(str(t) for t in node["target"])
        summary = " ".join(node.get("failureSummary", "").split())
        lines.append(f"    at {target}: {summary}")
        lines.append(f"      {node['html'][:200]}")
    if len(violation["nodes"]) > 10:
        lines.append(f"    … and {len(violation['nodes']) - 10} more element(s)")
    return "\n".join(lines)


def assert_accessible(page: Page, name: str) -> list[dict]:
    """Run axe-core on the current page. Fails on any serious or critical WCAG A/AA
    violation; the full result (minor and moderate findings included) is written to
    test-artifacts/axe/<name>.json. Returns every violation."""
    if not AXE_JS.exists():
        pytest.skip(f"axe-core is missing ({AXE_JS}): run `npm ci`")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, not as a <script> element: the page's
        # Content-Security-Policy rightly refuses inline scripts.
        page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;undefined")
    violations = page.evaluate(
        """async (tags) => {
            const results = await axe.run(document, {runOnly: {type: "tag", values: tags}});
            return results.violations;
        }""",
        AXE_TAGS,
    )
    AXE_REPORTS.mkdir(parents=True, exist_ok=True)
    (AXE_REPORTS / f"{name}.json").write_text(
        json.dumps({"url": page.url, "violations": violations}, indent=2, ensure_ascii=False),
        encoding="utf-8",
    )
    blocking = [v for v in violations if v.get("impact") in BLOCKING_IMPACTS]
    if blocking:
        pytest.fail(
            f"axe-core: {len(blocking)} serious/critical accessibility violation(s) on {name} ({page.url}):\n"
            + "\n".join(_format_violation(v) for v in blocking),
            pytrace=False,
        )
    return violations


def screenshot(page: Page, name: str) -> Path:
    """Full-page screenshot to test-artifacts/screenshots/<name>.png (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def check_page(page: Page, name: str) -> None:
    """What every visited page gets: the accessibility audit, then a screenshot."""
    page.wait_for_load_state("load")
    assert_accessible(page, name)
    screenshot(page, name)


# --- TOTP ------------------------------------------------------------------------------

STEP = 30


def totp_now(secret: str) -> tuple[str, int]:
    """The code an authenticator app shows now, and its 30-second step number."""
    now = time.time()
    return pyotp.TOTP(secret).at(now), int(now // STEP)


def totp_after(secret: str, used_step: int) -> tuple[str, int]:
    """A code from a step later than `used_step`, as the app shows it: the server refuses a
    step it has already accepted (replay protection), so wait for the next step to begin
    (at most one step, 30 s) rather than rely on the clock-drift window."""
    wait = (used_step + 1) * STEP - time.time()
    if wait > 0:
        assert wait <= STEP + 1, f"unexpected wait of {wait:.1f} s for the next TOTP step"
        time.sleep(wait + 0.2)
    return totp_now(secret)
