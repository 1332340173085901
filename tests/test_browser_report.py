"""The HTML report in a real headless browser (Debian's chromium).

The browser is driven over the DevTools protocol through ``--remote-debugging-pipe``
(file descriptors 3 and 4, NUL-separated JSON), so nothing beyond the standard
library is needed. The test collects console errors, uncaught exceptions and
failed loads, checks every section and every plot is rendered, and takes a
screenshot. CI installs chromium with ``scripts/install-chromium.sh``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_report import EXPECTED_PLOTS, report_inputs

from repurchase_ml.report import SECTION_IDS, write_report

#: the width an operations manager's laptop browser gives the page
WIDTH = 1400
#: a radar row taller than this means a squeezed column wrapping line after line
MAX_ROW_PX = 80

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="chromium is not installed; run scripts/install-chromium.sh (as root) to enable",
)

_PAGE_STATE = """(() => ({
  sections: Array.from(document.querySelectorAll('section')).map(s => s.id),
  images: Array.from(document.images).map(i => ({id: i.id, ok: i.complete && i.naturalWidth > 0,
                                                 width: i.naturalWidth})),
  height: document.documentElement.scrollHeight,
  title: document.title,
}))()"""


class _Browser:
    """A headless chromium spoken to over the DevTools pipe."""

    def __init__(self, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_pipes() -> None:  # runs in the child, before exec
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        args = [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "--window-size=1280,900",
            "about:blank",
        ]
        self._proc = subprocess.Popen(
            args,
            preexec_fn=wire_pipes,
            pass_fds=(3, 4),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _receive(self, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [], deadline - time.monotonic())
            if not ready:
                raise TimeoutError("chromium did not answer over the DevTools pipe")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def open(self, url: str) -> str:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            self.call(domain, session=session)
        self.call("Page.navigate", {"url": url}, session=session)
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._receive())
        return session

    def errors(self) -> list[str]:
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails'].get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                entry = params["entry"]
                found.append(
                    f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}"
                )
        return found

    def close(self) -> None:
        with contextlib.suppress(EOFError, TimeoutError, RuntimeError, OSError):
            self.call("Browser.close")
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture
def browser(tmp_path):
    b = _Browser(tmp_path / "profile")
    yield b
    b.close()


def _evaluate(browser: _Browser, session: str, expression: str) -> Any:
    result = browser.call(
        "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session
    )
    return result["result"]["value"]


def test_report_renders_without_errors_and_screenshot(browser, tmp_path):
    page = write_report(tmp_path / "report.html", **report_inputs())
    session = browser.open(page.as_uri())
    state = _evaluate(browser, session, _PAGE_STATE)

    assert browser.errors() == []
    assert state["title"] == "Customer repurchase and churn report"
    assert state["sections"] == list(SECTION_IDS)
    assert [img["id"] for img in state["images"]] == list(EXPECTED_PLOTS)
    assert all(img["ok"] and img["width"] > 200 for img in state["images"]), state["images"]

    shot = browser.call(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": 1200, "height": state["height"], "scale": 1},
        },
        session=session,
    )
    png = base64.b64decode(shot["data"])
    path = tmp_path / "report.png"
    path.write_bytes(png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000

    from matplotlib.image import imread

    pixels = imread(path)
    assert pixels.shape[:2] == (state["height"], 1200)  # the whole page, every section
    assert state["height"] > 3000
    # not a blank page: the header band and the plots give many distinct colours
    assert len(np.unique(pixels.reshape(-1, pixels.shape[2])[::97], axis=0)) > 50


_LAYOUT = """(() => {
  const box = el => { const r = el.getBoundingClientRect();
                      return {left: r.left, right: r.right, width: r.width, height: r.height}; };
  const table = document.getElementById('radar-table');
  return {
    viewport: document.documentElement.clientWidth,
    page_width: document.documentElement.scrollWidth,
    sections: Array.from(document.querySelectorAll('section')).map(s => ({
      id: s.id, title: s.querySelector('h2').textContent.trim(),
      client: s.clientWidth, scroll: s.scrollWidth, height: s.getBoundingClientRect().height})),
    rows: table ? Array.from(table.tBodies[0].rows).map(r => r.getBoundingClientRect().height) : [],
    headers: table ? Array.from(table.tHead.rows[0].cells).map(c => box(c)) : [],
    table: table ? box(table) : null,
    images: Array.from(document.images).map(i => ({id: i.id, ok: i.complete && i.naturalWidth > 0})),
    tables: Object.fromEntries(Array.from(document.querySelectorAll('section')).map(
      s => [s.id, s.querySelectorAll('table').length])),
    lang: document.documentElement.lang,
    height: document.documentElement.scrollHeight,
  };
})()"""


def _open_at(browser: _Browser, path: Path, width: int = WIDTH) -> tuple[str, dict]:
    session = browser.open(path.as_uri())
    browser.call("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                 session=session)
    return session, _evaluate(browser, session, _LAYOUT)


def _screenshot(browser: _Browser, session: str, height: int, path: Path) -> None:
    """The whole page as PNG into REPORT_SCREENSHOTS=<folder>, for a person to look at.

    Only when asked: the tests compare layout facts, and a full-page capture is slow.
    """
    keep = os.environ.get("REPORT_SCREENSHOTS")
    if not keep:
        return
    shot = browser.call("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1}}, session=session)
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    Path(keep).mkdir(parents=True, exist_ok=True)
    (Path(keep) / path.name).write_bytes(png)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_report_layout_at_laptop_width(browser, tmp_path, language):
    inputs = report_inputs()
    radar = inputs["radar"]
    # the longest reasons and actions the radar writes, so the test sees the worst rows
    radar["reasons"] = [[
        "next order 48 days overdue against the usual rhythm",
        "no views, carts or favourites in the last 30 days after 14 in the 30 before",
        "recent items cheaper than usual: 0.71x the category average in the last 90 days "
        "against 1.05x overall"]] * len(radar)
    # packaged actions in the page's language, and a rule of the user's own with long words
    radar["action_id"] = ["vip_care", "second_purchase_nudge", "my_own_rule"] * 20
    radar["action"] = "call the customer, then send the catalogue and a voucher " * 4
    page = write_report(tmp_path / f"report_{language}.html", **inputs, language=language,
                        currency="\u00a5" if language == "zh" else "$", top_n=60,
                        radar_csv="radar_2024-03-01.csv")
    session, layout = _open_at(browser, page)

    assert browser.errors() == []
    assert layout["lang"] == ("zh-CN" if language == "zh" else "en")
    assert [s["id"] for s in layout["sections"]] == list(SECTION_IDS)
    assert all(s["title"] and s["height"] > 60 for s in layout["sections"]), layout["sections"]
    assert all(img["ok"] for img in layout["images"])
    # no horizontal scroll: neither the page nor any section (sections scroll on their own)
    assert WIDTH - 20 <= layout["viewport"] <= WIDTH  # less the vertical scrollbar
    assert layout["page_width"] <= layout["viewport"]
    wide = [s["id"] for s in layout["sections"] if s["scroll"] > s["client"] + 1]
    assert wide == [], wide
    # the radar: 60 rows, each short; every column, the action last, inside the screen
    assert len(layout["rows"]) == 60
    assert max(layout["rows"]) < MAX_ROW_PX, max(layout["rows"])
    assert layout["table"]["right"] <= WIDTH
    action = layout["headers"][-1]
    assert action["width"] > 200 and action["right"] <= layout["table"]["right"] + 1
    reasons = layout["headers"][-2]
    assert reasons["width"] > 300
    # monitoring and the campaign read-out: filled (tables, the performance plot), inside the page
    filled = {s["id"]: s for s in layout["sections"]}
    assert filled["monitoring"]["height"] > 300 and filled["campaign-readout"]["height"] > 200
    assert layout["tables"]["monitoring"] == 2 and layout["tables"]["campaign-readout"] == 2
    assert "plot-performance-churn" in [img["id"] for img in layout["images"]]

    _screenshot(browser, session, layout["height"], tmp_path / f"report_{language}.png")


def test_radar_table_sorts_and_filters_in_the_page(browser, tmp_path):
    inputs = report_inputs()
    inputs["radar"]["rank"] = range(1, len(inputs["radar"]) + 1)  # columns: rank, customer, ...
    page = write_report(tmp_path / "report.html", **inputs, top_n=60)
    session, _layout = _open_at(browser, page)
    column = "Array.from(document.querySelectorAll('#radar-table tbody tr'))" \
             ".filter(r => r.style.display !== 'none').map(r => r.cells[{i}].textContent)"
    ids = _evaluate(browser, session, column.format(i=1))
    assert ids == inputs["radar"]["customer_id"].tolist()  # the radar's order to start with
    # a click on "churn risk" sorts ascending, a second click descending
    _evaluate(browser, session, "document.querySelectorAll('#radar-table th')[2].click(); true")
    ids = _evaluate(browser, session, column.format(i=1))
    want = inputs["radar"].sort_values("churn_probability", kind="mergesort")["customer_id"]
    assert ids == want.tolist()
    _evaluate(browser, session, "document.querySelectorAll('#radar-table th')[2].click(); true")
    assert _evaluate(browser, session, column.format(i=1))[0] == want.iloc[-1]
    # typing filters rows on any text in them
    _evaluate(browser, session, "const b = document.getElementById('radar-filter');"
              "b.value = 'champions'; b.dispatchEvent(new Event('input')); true")
    segments = _evaluate(browser, session, column.format(i=5))
    assert len(segments) == (inputs["radar"]["segment"] == "champions").sum()
    assert set(segments) == {"champions"}
    assert _evaluate(browser, session, "document.getElementById('radar-shown').textContent") \
        == str(len(segments))
    assert browser.errors() == []


def test_harness_reports_broken_pages(browser, tmp_path):
    """The error collector must see what a broken page does, or the test above proves nothing."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><img src="missing.png">'
        '<script>console.error("boom"); throw new Error("bad")</script></body></html>',
        encoding="utf-8",
    )
    session = browser.open(bad.as_uri())
    errors = browser.errors()
    assert any("ERR_FILE_NOT_FOUND" in e and "missing.png" in e for e in errors), errors
    assert any(e.startswith("console.error") and "boom" in e for e in errors), errors
    assert any(e.startswith("exception") for e in errors), errors
    state = _evaluate(browser, session, _PAGE_STATE)
    assert state["images"] == [{"id": "", "ok": False, "width": 0}]


@pytest.fixture(scope="module")
def analytics_tables():
    from repurchase_ml.analytics import run_analytics
    from repurchase_ml.datasets import make_event_log

    events, _ = make_event_log(300, "2022-01-01", "2024-01-01", random_state=1, profile="retail",
                               category_paths=True)
    buyers = events.loc[events["event_type"] == "purchase", "customer_id"].unique()[:3]
    radar = pd.DataFrame({"customer_id": buyers, "action_id": ["win_back_coupon", "vip_care",
                                                                "win_back_coupon"],
                          "action": ["win back", "vip care", "win back"],
                          "value_at_risk": [10.0, 20.0, 5.0]})
    return run_analytics(events, "2023-12-01", previous_as_of="2023-11-01", radar=radar)


_ANALYTICS_LAYOUT = """(() => ({
  viewport: document.documentElement.clientWidth,
  page_width: document.documentElement.scrollWidth,
  sections: Array.from(document.querySelectorAll('section')).map(s => s.id),
  titles: Array.from(document.querySelectorAll('section h2')).map(h => h.textContent.trim()),
  category_tables: document.querySelectorAll('#category_paths table').length,
  wide: Array.from(document.querySelectorAll('section, .table-wrap'))
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.closest('section').id),
  images: Array.from(document.images).map(i => i.complete && i.naturalWidth > 0
                                          && i.getBoundingClientRect().width > 0),
  lang: document.documentElement.lang,
  height: document.documentElement.scrollHeight,
}))()"""


@pytest.mark.parametrize("language", ["en", "zh"])
def test_analytics_page_layout_at_laptop_width(browser, tmp_path, analytics_tables, language):
    from repurchase_ml import i18n
    from repurchase_ml.analytics.page import SECTIONS, build_page

    page = tmp_path / f"analytics_{language}.html"
    page.write_text(build_page(analytics_tables, as_of=pd.Timestamp("2023-12-01"),
                               previous_as_of=pd.Timestamp("2023-11-01"), language=language,
                               report_href="report_2023-12-01.html"), encoding="utf-8")
    session = browser.open(page.as_uri())
    browser.call("Emulation.setDeviceMetricsOverride",
                 {"width": WIDTH, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                 session=session)
    layout = _evaluate(browser, session, _ANALYTICS_LAYOUT)

    assert browser.errors() == []
    assert layout["lang"] == ("zh-CN" if language == "zh" else "en")
    expected = [name for name, _plot in SECTIONS if name in analytics_tables]
    assert len(expected) >= 18  # the synthetic shop has every kind of table
    assert layout["sections"][: len(expected)] == expected
    assert layout["titles"][: len(expected)] == [
        i18n.text(f"analytics.section.{name}.title", language) for name in expected]
    assert all(layout["images"]) and len(layout["images"]) == sum(
        1 for name, plot in SECTIONS if plot is not None and name in analytics_tables)
    assert "action_summary" in expected
    # the category paths follow, under their titles, a table each
    assert layout["sections"][len(expected)] == "category_paths"
    assert layout["titles"][len(expected)] == i18n.text("analytics.section.category_paths.title",
                                                        language)
    assert layout["category_tables"] >= 3
    assert layout["page_width"] <= layout["viewport"] <= WIDTH
    assert layout["wide"] == [], layout["wide"]
    _screenshot(browser, session, layout["height"], tmp_path / f"analytics_{language}.png")
