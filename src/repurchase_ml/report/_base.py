"""What every section of the report shares: its inputs, its formatter and the HTML helpers."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.features._inputs import normalise_cutoffs
from repurchase_ml.i18n import Formatter


@dataclass(frozen=True)
class ReportContext:
    """Every input of :func:`~repurchase_ml.report.build_report`, checked, plus the formatter.

    A section reads what it needs from here; ``extras`` carries inputs of
    sections added later (``build_report(extras={...})``) without a new argument.
    """

    cutoff: pd.Timestamp
    fmt: Formatter
    scorecards: Mapping[str, Any] | None = None
    predictions: Mapping[str, pd.DataFrame] | None = None
    drivers: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None
    radar: pd.DataFrame | None = None
    value_risk: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    choice: Mapping[str, Mapping[str, Any]] | None = None
    decision: Mapping[str, Any] | None = None
    model: Mapping[str, Any] | None = None
    top_n: int = 25
    curve_days: int = 180
    min_test_rows: int = 500
    radar_csv: str | None = None
    analytics_href: str | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    def t(self, key: str, /, **values: Any) -> str:
        """The message ``key`` in the report's language as HTML: text escaped, :class:`Raw` kept."""
        from repurchase_ml.i18n import text

        template = e(text(key, self.fmt.language, **{k: "{" + k + "}" for k in values}))
        return template.format(**{k: v if isinstance(v, Raw) else e(v) for k, v in values.items()})

    def pt(self, key: str, /, **values: Any) -> str:
        """The message ``key`` as a figure prints it (English without a CJK font)."""
        from repurchase_ml.i18n import text
        from repurchase_ml.report.plots import plot_language

        return text(key, plot_language(self.fmt.language), **values)

    def plabel(self, kind: str, code: Any) -> str:
        """A code's name as a figure prints it."""
        from repurchase_ml.i18n import label
        from repurchase_ml.report.plots import plot_language

        return label(kind, code, plot_language(self.fmt.language))


class Raw(str):
    """HTML that :meth:`ReportContext.t` puts into a message as it is (already escaped)."""


@dataclass(frozen=True)
class Section:
    """One ``<section>`` of the report: its stable ``id`` and the function that renders its body.

    The title is the catalogue message ``report.section.<id>``.
    """

    id: str
    render: Callable[[ReportContext], str]


# ---------------------------------------------------------------------------
# HTML


def e(value: Any) -> str:
    """``value`` as escaped HTML text."""
    return html.escape(str(value), quote=True)


def grid(parts: Sequence[str]) -> str:
    """Blocks side by side, wrapping on narrow screens."""
    return '<div class="grid">' + "".join(f'<div class="cell">{p}</div>' for p in parts) + "</div>"


def note(body: str) -> str:
    """A grey explanatory line (``body`` is HTML)."""
    return f'<p class="note">{body}</p>'


def warning(body: str) -> str:
    """A line the reader must not miss (``body`` is HTML)."""
    return f'<p class="warn" role="alert">\u26a0 {body}</p>'


def missing(ctx: ReportContext, argument: str) -> str:
    """The section is empty because ``argument`` was not given; say which one fills it."""
    return note(ctx.t("report.missing", argument=Raw(f"<code>{e(argument)}</code>"),
                      what=ctx.fmt.text(f"report.missing_what.{argument}")))


def empty_radar(ctx: ReportContext) -> str:
    """The one line every radar-based section shows for an empty radar."""
    return note(ctx.t("report.radar.empty", date=ctx.fmt.date(ctx.cutoff)))


def img(fig: Any, slug: str, alt: str) -> str:
    """A matplotlib figure as an inline PNG ``<img>`` with a stable ``id``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<img class="plot" id="plot-{e(slug_of(slug))}" alt="{e(alt)}" '
            f'src="data:image/png;base64,{data}">')


def slug_of(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")


def is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def cell_text(v: Any, fmt: Formatter) -> str:
    """A table cell as text: blank for missing, dates as days, numbers grouped."""
    if v is None or (isinstance(v, float | np.floating) and np.isnan(v)):
        return ""
    if isinstance(v, pd.Timestamp):
        return fmt.date(v)
    if isinstance(v, float | np.floating):
        return fmt.number(float(v))
    if isinstance(v, int | np.integer) and not isinstance(v, bool):
        return fmt.count(float(v))
    return str(v)


def table(frame: pd.DataFrame, fmt: Formatter, *, index: bool = True, index_name: str = "",
          cells: Mapping[str, Callable[[Any], str]] | None = None) -> str:
    """An HTML table; ``cells`` renders the named columns' values (text, escaped here)."""
    cells = cells or {}
    head = ([f"<th>{e(index_name)}</th>"] if index else []) + [
        f"<th>{e(c)}</th>" for c in frame.columns]
    renderers = [cells.get(str(c)) for c in frame.columns]
    rows = []
    for idx, row in zip(frame.index, frame.itertuples(index=False, name=None), strict=True):
        out = [f"<th>{e(idx)}</th>"] if index else []
        for v, render in zip(row, renderers, strict=True):
            cls = ' class="num"' if is_number(v) else ""
            out.append(f"<td{cls}>{e(render(v) if render else cell_text(v, fmt))}</td>")
        rows.append("<tr>" + "".join(out) + "</tr>")
    return ("<table><thead><tr>" + "".join(head) + "</tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>")


def as_timestamp(value: Any, *, name: str) -> pd.Timestamp:
    """One naive date from a string, date or timestamp; the argument named in any error."""
    if not isinstance(value, str | _dt.date | np.datetime64 | pd.Timestamp | None):
        raise TypeError(f"{name}: expected one date such as '2024-06-01', got {value!r}.")
    return normalise_cutoffs(value, argument=name)[0]


CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"PingFang SC","Microsoft YaHei",
"Noto Sans CJK SC","WenQuanYi Micro Hei","DejaVu Sans",Arial,sans-serif;margin:0;
color:#1f2933;background:#f5f7fa}
header{background:#243b53;color:#fff;padding:16px 32px}
header h1{margin:0;font-size:1.45em}header p{margin:4px 0 0;opacity:.9}
header a{color:#fff}
nav{padding:8px 32px;background:#d9e2ec;font-size:.9em}nav a{margin-right:14px;color:#243b53}
main{padding:8px 32px 40px;max-width:1340px}
section{background:#fff;border-radius:6px;padding:12px 20px 18px;margin:16px 0;
box-shadow:0 1px 3px rgba(0,0,0,.12);overflow-x:auto}
h2{font-size:1.2em;border-bottom:1px solid #d9e2ec;padding-bottom:6px}
h3{font-size:1em;margin:14px 0 6px}
table{border-collapse:collapse;font-size:.85em;margin:6px 0}
th,td{border:1px solid #d9e2ec;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
img.plot{max-width:100%;height:auto;display:block;margin:8px 0}
p.note{color:#52606d;font-style:italic}
p.warn{background:#fff3c4;border-left:4px solid #b44d12;color:#5c2b00;padding:6px 10px;
margin:6px 0}
td.warn{background:#fff3c4;color:#5c2b00;font-weight:bold}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#f0f4f8;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:1.3em}
.grid{display:flex;flex-wrap:wrap;gap:8px 28px;align-items:flex-start}
.cell{flex:0 1 auto;max-width:100%}
ul.drivers{margin:4px 0 10px;padding-left:20px}ul.drivers li{margin:2px 0}
.up{color:#b42318;font-weight:bold}.down{color:#175cd3;font-weight:bold}
.tools{display:flex;gap:12px;align-items:center;margin:8px 0;flex-wrap:wrap}
.tools input{padding:4px 8px;min-width:320px;border:1px solid #9fb3c8;border-radius:4px}
table.radar{table-layout:fixed;width:100%;font-size:12.5px}
table.radar th{cursor:pointer;user-select:none;white-space:normal}
table.radar th[aria-sort=ascending]::after{content:" \\25b2"}
table.radar th[aria-sort=descending]::after{content:" \\25bc"}
table.radar td{overflow:hidden;line-height:1.3}
table.radar td.id{white-space:nowrap;text-overflow:ellipsis}
table.radar ul{margin:0;padding:0;list-style:none}
table.radar li{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;font-size:12px}
table.radar li::before{content:"\\2022\\00a0";color:#829ab1}
table.radar .clamp{display:-webkit-box;-webkit-line-clamp:3;-webkit-box-orient:vertical;
overflow:hidden}
"""

#: sorts the radar by a clicked header (numbers by value) and filters rows by typed text;
#: plain DOM, no server and no library, so the file still opens from disk anywhere
SCRIPT = """
(function(){
var t=document.getElementById('radar-table');if(!t)return;
var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows),
box=document.getElementById('radar-filter'),shown=document.getElementById('radar-shown');
function key(r,i){var c=r.cells[i],v=c.getAttribute('data-v');
return v===null?c.textContent.toLowerCase():parseFloat(v);}
Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){
th.addEventListener('click',function(){
var asc=th.getAttribute('aria-sort')!=='ascending';
Array.prototype.forEach.call(t.tHead.rows[0].cells,function(o){o.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',asc?'ascending':'descending');
rows.sort(function(a,b){var x=key(a,i),y=key(b,i);
if(typeof x==='number'&&isNaN(x))return 1;if(typeof y==='number'&&isNaN(y))return -1;
return (x<y?-1:x>y?1:0)*(asc?1:-1);});
rows.forEach(function(r){body.appendChild(r);});});});
if(box)box.addEventListener('input',function(){var q=box.value.toLowerCase(),n=0;
rows.forEach(function(r){var hit=r.textContent.toLowerCase().indexOf(q)>=0;
r.style.display=hit?'':'none';n+=hit?1:0;});if(shown)shown.textContent=n;});
})();
"""
