"""The HTML report renders in headless Chromium without console errors or requests.

Runs when /usr/bin/chromium exists (Debian: `apt-get install -y chromium`); skipped otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reports.chromium import CHROMIUM, open_page

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed")


def test_the_detector_sees_errors(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" '
        'href="data:,"></head><body><img src="missing.png"><script>'
        'console.error("boom"); throw new Error("kaboom");</script></body></html>'
    )
    report = open_page(page)
    assert any("boom" in p for p in report.problems)
    assert any("kaboom" in p for p in report.problems)
    assert report.requests == [(tmp_path / "missing.png").as_uri()]
    assert report.images_ok is False


def test_report_renders_cleanly(ab_report: Path) -> None:
    report = open_page(ab_report / "index.html")
    assert report.problems == []
    assert report.requests == []
    assert report.images_ok is True
