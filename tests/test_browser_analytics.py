"""The analytics page in headless chromium at 1400 px: every section, every plot, no
horizontal scroll, no console error (the harness of ``test_browser_report``)."""

from __future__ import annotations

import pandas as pd
import pytest
from test_browser_report import CHROMIUM, _Browser, _evaluate

import repurchase_ml as rm
from repurchase_ml.analytics import run_analytics
from repurchase_ml.analytics.page import SECTIONS, build_page

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")

_LAYOUT = """(() => ({
  sections: Array.from(document.querySelectorAll('section')).map(s => s.id),
  images: Array.from(document.images).map(i => ({ok: i.complete && i.naturalWidth > 0,
                                                 shown: i.getBoundingClientRect().width})),
  scrollWidth: document.documentElement.scrollWidth,
  clientWidth: document.documentElement.clientWidth,
}))()"""


@pytest.fixture
def browser(tmp_path):
    b = _Browser(tmp_path / "profile")
    yield b
    b.close()


def test_analytics_page_at_1400_px(browser, tmp_path):
    events, _ = rm.make_event_log(300, "2023-01-01", "2024-01-01", random_state=2)
    radar = pd.DataFrame({"customer_id": [1, 2], "action": ["win back", "vip care"],
                          "value_at_risk": [10.0, 20.0]})
    tables = run_analytics(events, "2023-12-01", radar=radar)
    page = tmp_path / "analytics.html"
    page.write_text(build_page(tables, as_of=pd.Timestamp("2023-12-01")), encoding="utf-8")
    session = browser.open(page.as_uri())
    browser.call("Emulation.setDeviceMetricsOverride",
                 {"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                 session=session)
    state = _evaluate(browser, session, _LAYOUT)
    assert browser.errors() == []
    expected = [name for name, _ in SECTIONS if name in tables]
    assert state["sections"] == expected
    assert len(state["images"]) == sum(1 for name, plot in SECTIONS
                                       if plot is not None and name in tables)
    assert all(img["ok"] and 0 < img["shown"] <= 1400 for img in state["images"])
    # no horizontal scroll (the client width is 1400 px less a vertical scrollbar)
    assert state["scrollWidth"] <= state["clientWidth"] and state["clientWidth"] > 1350
