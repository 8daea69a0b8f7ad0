"""axe-core (from npm, see package.json) run inside a Playwright page."""
from __future__ import annotations

from pathlib import Path

import pytest

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# The widgets' iframes come from another origin than the page holding them; axe talks to its
# copy inside each frame by postMessage, which it only does with origins it is told to trust.
TRUST_EVERY_ORIGIN = "axe.configure({allowedOrigins: ['<unsafe_all_origins>']})"


def require_axe() -> None:
    if not AXE.is_file():
        pytest.skip(f"{AXE} is missing: run npm ci")


def violations(page) -> list[dict]:
    """axe's violations for the page and every iframe in it, checked as one page (so the
    page-level rules, such as one <main> and one <h1>, apply to the page, not to each frame)."""
    for frame in page.frames:
        frame.add_script_tag(path=str(AXE))
        frame.evaluate(TRUST_EVERY_ORIGIN)
    return page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']}))"
                         ".violations")


def describe(found: list[dict]) -> str:
    lines = []
    for violation in found:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    {' '.join(map(str, node['target']))}: {node['failureSummary']}")
    return "\n".join(lines)
