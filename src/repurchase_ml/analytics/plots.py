"""Every analytics plot in one place: each takes its table, draws on ``ax=`` or a new figure.

Each function returns the matplotlib Figure it drew on (closed when it made
it, so a notebook shows it once). Heatmaps pick black or white text per cell
by contrast with the cell's colour (:func:`text_colour`), so every number is
readable on every cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.errors import SchemaError

__all__ = [
    "plot_repurchase_funnel", "plot_time_to_next_order", "plot_cohort_retention",
    "plot_segment_migration", "plot_segment_flow", "plot_behaviour_funnel",
    "plot_activity_over_time", "plot_promotion_effects", "plot_action_summary",
    "plot_frequency_recency_matrix", "plot_probability_alive_matrix",
    "plot_period_transactions", "plot_calibration_vs_holdout", "plot_cumulative_transactions",
    "text_colour", "contrast_ratio",
]

_BLUE, _ORANGE, _GREEN, _GREY = "#1f5fa8", "#d9711c", "#2e8b57", "#6b6b6b"
_MAX_LINES = 12  # more groups than this: the largest ones are drawn


def _need(table: Any, columns: Sequence[str], what: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table: expected the DataFrame of {what}, got {type(table).__name__}.")
    for column in columns:
        if column not in table.columns:
            raise SchemaError(column, f"table: not a table of {what} (column missing)",
                              fix=f"pass the DataFrame that {what} returns")
    return table


def _axes(ax: Any, size: tuple[float, float]) -> tuple[Any, Any, bool]:
    """(figure, axes, made): a new figure when ``ax`` is None."""
    if ax is not None:
        return ax.figure, ax, False
    import matplotlib.pyplot as plt

    fig, new_ax = plt.subplots(figsize=size)
    return fig, new_ax, True


def _done(fig: Any, made: bool) -> Any:
    if made:
        import matplotlib.pyplot as plt

        fig.tight_layout()
        plt.close(fig)
    return fig


def _empty(ax: Any, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_axis_off()


def _luminance(rgb: Sequence[float]) -> float:
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(foreground: Sequence[float], background: Sequence[float]) -> float:
    """WCAG contrast ratio of two RGB colours (components 0..1): 1 (none) to 21.

    Examples
    --------
    >>> round(contrast_ratio((0, 0, 0), (1, 1, 1)), 1)
    21.0
    """
    high, low = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_colour(background: Sequence[float]) -> str:
    """``"black"`` or ``"white"``, whichever contrasts more with ``background`` (RGB 0..1);
    the better of the two always reaches WCAG's 4.5 for normal text.

    Examples
    --------
    >>> text_colour((0.03, 0.19, 0.42)), text_colour((0.97, 0.98, 1.0))
    ('white', 'black')
    """
    white = contrast_ratio((1, 1, 1), background)
    black = contrast_ratio((0, 0, 0), background)
    return "white" if white >= black else "black"


def _heatmap(ax: Any, values: np.ndarray, rows: Sequence[str], columns: Sequence[str], *,
             fmt: str, cmap: str = "Blues", vmin: float | None = None,
             vmax: float | None = None, label: str = "", text: bool = True) -> Any:
    import matplotlib as mpl

    colours = mpl.colormaps[cmap].with_extremes(bad="#f2f2f2")
    masked = np.ma.masked_invalid(values.astype(float))
    image = ax.imshow(masked, cmap=colours, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(columns)), [str(c) for c in columns], rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    if text:
        for i, j in zip(*np.nonzero(~masked.mask if masked.mask is not np.ma.nomask
                                    else np.ones(values.shape, dtype=bool)), strict=True):
            background = image.cmap(image.norm(values[i, j]))
            ax.text(j, i, format(values[i, j], fmt), ha="center", va="center", fontsize=7,
                    color=text_colour(background))
    ax.figure.colorbar(image, ax=ax, label=label)
    return image


# ---------------------------------------------------------------- repurchase


def plot_repurchase_funnel(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """Bars of customers reaching each order (step conversion on top); with several groups,
    the share of each group's buyers reaching each order, one line per group.

    Examples
    --------
    >>> t = pd.DataFrame({"group": "all", "order_number": [1, 2, 3], "customers": [100, 40, 20],
    ...                   "step_conversion": [1.0, 0.4, 0.5], "overall_conversion": [1, 0.4, 0.2]})
    >>> fig = plot_repurchase_funnel(t)
    >>> [t.get_text() for t in fig.axes[0].texts]
    ['100', '40 (40%)', '20 (50%)']
    """
    _need(table, ("group", "order_number", "customers", "step_conversion",
                  "overall_conversion"), "repurchase_funnel")
    fig, ax, made = _axes(ax, (7, 4))
    if table.empty:
        _empty(ax, "no orders before the as-of date")
        return _done(fig, made)
    groups = table["group"].unique()
    if len(groups) == 1:
        x = table["order_number"].to_numpy()
        ax.bar(x, table["customers"], color=_BLUE)
        for k, (n, step) in enumerate(zip(table["customers"], table["step_conversion"],
                                          strict=True)):
            label = f"{n:,}" if k == 0 else f"{n:,} ({step:.0%})"
            ax.annotate(label, (x[k], n), ha="center", va="bottom", fontsize=8)
        ax.set_xticks(x, [f"{o}" if o < x.max() else f"{o}+" for o in x])
        ax.set_ylabel("customers")
    else:
        sizes = table.loc[table["order_number"] == 1].set_index("group")["customers"]
        for group in sizes.nlargest(_MAX_LINES).index:
            part = table.loc[table["group"] == group]
            ax.plot(part["order_number"], part["overall_conversion"], marker="o", label=group)
        ax.set_ylabel("share of the group's buyers")
        ax.legend(fontsize=7, ncol=2)
    ax.set_xlabel("order number")
    ax.set_title("Repurchase funnel")
    return _done(fig, made)


def plot_time_to_next_order(table: pd.DataFrame, *, ax: Any = None,
                            nudge_day: int | None = None) -> Any:
    """Share of buyers who placed their next order by each day (1 - Kaplan-Meier survival),
    with its 95 % band and, when given, the nudge day.

    Examples
    --------
    >>> t = pd.DataFrame({"days": [2, 5], "at_risk": [4, 2], "events": [2, 1], "censored": [0, 1],
    ...     "survival": [0.5, 0.25], "ci_lower": [0.1, 0.02], "ci_upper": [0.8, 0.6]})
    >>> fig = plot_time_to_next_order(t, nudge_day=4)
    >>> fig.axes[0].get_ylabel()
    'share who ordered again'
    """
    _need(table, ("days", "survival", "ci_lower", "ci_upper"), "time_to_next_order")
    fig, ax, made = _axes(ax, (7, 4))
    if table.empty:
        _empty(ax, "no buyer with that many orders")
        return _done(fig, made)
    days = np.r_[0, table["days"].to_numpy()]
    share = 1 - np.r_[1.0, table["survival"].to_numpy()]
    ax.step(days, share, where="post", color=_BLUE, label="ordered again")
    ax.fill_between(days, 1 - np.r_[1.0, table["ci_upper"].to_numpy()],
                    1 - np.r_[1.0, table["ci_lower"].to_numpy()], step="post", color=_BLUE,
                    alpha=0.2, label="95 % interval")
    if nudge_day is not None and nudge_day == nudge_day:
        ax.axvline(int(nudge_day), color=_ORANGE, linestyle="--",
                   label=f"nudge by day {int(nudge_day)}")
    ax.set_xlabel("days since the order")
    ax.set_ylabel("share who ordered again")
    ax.set_ylim(0, max(0.05, float(share.max()) * 1.1))
    ax.legend(fontsize=8)
    ax.set_title("Time to the next order")
    return _done(fig, made)


def plot_cohort_retention(table: pd.DataFrame, *, ax: Any = None,
                          max_cohorts: int = 12) -> Any:
    """Heatmap: acquisition cohort (rows) x periods since the first order, retention in %.

    The latest ``max_cohorts`` cohorts and their first ``max_cohorts`` periods
    are drawn (every number still readable); the table holds them all.

    Examples
    --------
    >>> t = pd.DataFrame({"cohort": ["2024-01", "2024-01", "2024-02"], "period": [0, 1, 0],
    ...                   "retention": [1.0, 0.25, 1.0]})
    >>> fig = plot_cohort_retention(t)
    >>> [t.get_text() for t in fig.axes[0].texts]
    ['100%', '25%', '100%']
    """
    _need(table, ("cohort", "period", "retention"), "cohort_retention")
    grid = table.pivot(index="cohort", columns="period", values="retention")
    grid = grid.iloc[-max_cohorts:, :max_cohorts]
    fig, ax, made = _axes(ax, (1.5 + 0.45 * max(grid.shape[1], 1),
                               1.5 + 0.3 * max(grid.shape[0], 1)))
    if table.empty:
        _empty(ax, "no orders before the as-of date")
        return _done(fig, made)
    top = float(np.nanmax(grid.to_numpy()[:, 1:])) if grid.shape[1] > 1 else 1.0
    _heatmap(ax, grid.to_numpy(), grid.index, grid.columns, fmt=".0%", vmin=0,
             vmax=top if np.isfinite(top) and top > 0 else 1.0, label="retention")
    ax.set_xlabel("periods since the first order")
    ax.set_ylabel("cohort")
    ax.set_title("Cohort retention")
    return _done(fig, made)


# ---------------------------------------------------------------- segments


def _migration_grid(table: pd.DataFrame) -> pd.DataFrame:
    from repurchase_ml.analytics.migration import segment_order

    order = {name: i for k in ("rfm", "lifecycle") for i, name in enumerate(segment_order(k))}
    grid = table.pivot(index="from_segment", columns="to_segment", values="share_of_from")
    rows = sorted(grid.index, key=lambda s: order.get(s, len(order)))
    columns = sorted(grid.columns, key=lambda s: order.get(s, len(order)))
    return grid.reindex(index=rows, columns=columns)


def plot_segment_migration(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """Heatmap of :func:`segment_migration`: share of each earlier segment's customers in
    each later one.

    Examples
    --------
    >>> t = pd.DataFrame({"from_segment": ["new", "new"], "to_segment": ["active", "at_risk"],
    ...                   "customers": [3, 1], "share_of_from": [0.75, 0.25]})
    >>> [t.get_text() for t in plot_segment_migration(t).axes[0].texts]
    ['75%', '25%']
    """
    _need(table, ("from_segment", "to_segment", "share_of_from"), "segment_migration")
    grid = _migration_grid(table)
    fig, ax, made = _axes(ax, (2 + 0.7 * max(grid.shape[1], 1), 1.5 + 0.45 * max(grid.shape[0], 1)))
    if table.empty:
        _empty(ax, "no customers")
        return _done(fig, made)
    _heatmap(ax, grid.to_numpy(), grid.index, grid.columns, fmt=".0%", vmin=0, vmax=1,
             label="share of the earlier segment")
    ax.set_xlabel("later segment")
    ax.set_ylabel("earlier segment")
    ax.set_title("Segment migration")
    return _done(fig, made)


def plot_segment_flow(table: pd.DataFrame, *, ax: Any = None, min_share: float = 0.005) -> Any:
    """Sankey-style flow of :func:`segment_migration`: earlier segments on the left, later on
    the right, bands as wide as the customers moving (bands under ``min_share`` of all
    customers are left out to keep it readable).

    Examples
    --------
    >>> t = pd.DataFrame({"from_segment": ["new", "new", "lost"],
    ...                   "to_segment": ["active", "lost", "lost"],
    ...                   "customers": [3, 1, 2], "share_of_from": [0.75, 0.25, 1.0]})
    >>> fig = plot_segment_flow(t)
    >>> len(fig.axes[0].patches), sorted(t.get_text() for t in fig.axes[0].texts)
    (7, ['active (3)', 'lost (2)', 'lost (3)', 'new (4)'])
    """
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path

    _need(table, ("from_segment", "to_segment", "customers"), "segment_migration")
    fig, ax, made = _axes(ax, (8, 6))
    total = float(table["customers"].sum()) if len(table) else 0.0
    if not total:
        _empty(ax, "no customers")
        return _done(fig, made)
    grid = _migration_grid(table.assign(share_of_from=table["customers"])).fillna(0.0)
    left, right = grid.sum(axis=1), grid.sum(axis=0)
    gap = 0.02 * total
    import matplotlib as mpl

    palette = mpl.colormaps["tab20"]

    def stack(sizes: pd.Series) -> dict[str, float]:
        tops, y = {}, total + gap * (len(sizes) - 1)
        for name, size in sizes.items():
            tops[str(name)] = y
            y -= size + gap
        return tops

    left_top, right_top = stack(left), stack(right)
    colour = {name: palette(i % 20) for i, name in enumerate(dict.fromkeys(
        [*map(str, grid.index), *map(str, grid.columns)]))}
    for name, size in left.items():
        ax.add_patch(Rectangle((0, left_top[str(name)] - size), 0.06, size,
                               color=colour[str(name)]))
        ax.text(-0.01, left_top[str(name)] - size / 2, f"{name} ({int(size):,})", ha="right",
                va="center", fontsize=8)
    for name, size in right.items():
        ax.add_patch(Rectangle((0.94, right_top[str(name)] - size), 0.06, size,
                               color=colour[str(name)]))
        ax.text(1.01, right_top[str(name)] - size / 2, f"{name} ({int(size):,})", ha="left",
                va="center", fontsize=8)
    out_y, in_y = dict(left_top), dict(right_top)
    for source in grid.index:
        for target in grid.columns:
            width = float(grid.at[source, target])
            s, t = str(source), str(target)
            if width <= 0:
                continue
            y0, y1 = out_y[s], in_y[t]
            out_y[s], in_y[t] = y0 - width, y1 - width
            if width < min_share * total:
                continue
            path = Path([(0.06, y0), (0.5, y0), (0.5, y1), (0.94, y1), (0.94, y1 - width),
                         (0.5, y1 - width), (0.5, y0 - width), (0.06, y0 - width), (0.06, y0)],
                        [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4, Path.LINETO,
                         Path.CURVE4, Path.CURVE4, Path.CURVE4, Path.CLOSEPOLY])
            ax.add_patch(PathPatch(path, facecolor=colour[s], alpha=0.45, edgecolor="none"))
    ax.set_xlim(-0.45, 1.45)
    ax.set_ylim(-gap, total + gap * max(len(left), len(right)))
    ax.set_axis_off()
    ax.set_title("Segment flow (earlier left, later right)")
    return _done(fig, made)


# ---------------------------------------------------------------- behaviour, activity


def plot_behaviour_funnel(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """Customers at each step of the behaviour funnel (one group), or each group's share of
    viewers reaching each step; an empty table shows its note.

    Examples
    --------
    >>> t = pd.DataFrame(columns=["group", "stage", "customers", "step_conversion",
    ...                           "overall_conversion"])
    >>> t.attrs["note"] = "no browsing events"
    >>> [x.get_text() for x in plot_behaviour_funnel(t).axes[0].texts]
    ['no browsing events']
    """
    _need(table, ("group", "stage", "customers", "overall_conversion"), "behaviour_funnel")
    fig, ax, made = _axes(ax, (7, 4))
    if table.empty:
        _empty(ax, table.attrs.get("note", "no browsing events"))
        return _done(fig, made)
    stages = list(dict.fromkeys(table["stage"]))
    groups = list(dict.fromkeys(table["group"]))
    if len(groups) == 1:
        y = np.arange(len(stages))
        ax.barh(y, table["customers"], color=_BLUE)
        ax.set_yticks(y, [s.replace("_", " ") for s in stages])
        ax.invert_yaxis()
        for k, (n, share) in enumerate(zip(table["customers"], table["overall_conversion"],
                                           strict=True)):
            ax.annotate(f"{n:,} ({share:.0%})", (n, k), va="center", fontsize=8,
                        xytext=(3, 0), textcoords="offset points")
        ax.set_xlabel("customers")
    else:
        viewers = table.loc[table["stage"] == stages[0]].set_index("group")["customers"]
        shown = list(viewers.nlargest(_MAX_LINES).index)
        width = 0.8 / len(stages)
        for k, stage in enumerate(stages[1:], start=1):
            part = table.loc[table["stage"] == stage].set_index("group").reindex(shown)
            ax.bar(np.arange(len(shown)) + (k - 1) * width, part["overall_conversion"], width,
                   label=stage.replace("_", " "))
        ax.set_xticks(np.arange(len(shown)) + width / 2, shown, rotation=45, ha="right")
        ax.set_ylabel("share of viewers")
        ax.legend(fontsize=8)
    ax.set_title("Behaviour funnel")
    return _done(fig, made)


def plot_activity_over_time(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """New and returning buyers per period (stacked bars) with net revenue (line, right axis);
    the period of the as-of date, still running, is hatched.

    Examples
    --------
    >>> t = pd.DataFrame({"period": ["2024-01", "2024-02"], "new_buyers": [5, 2],
    ...     "returning_buyers": [0, 3], "net_revenue": [50.0, 70.0], "complete": [True, False]})
    >>> fig = plot_activity_over_time(t)
    >>> [a.get_ylabel() for a in fig.axes]
    ['buyers', 'net revenue']
    """
    _need(table, ("period", "new_buyers", "returning_buyers", "net_revenue"),
          "activity_over_time")
    fig, ax, made = _axes(ax, (9, 4))
    if table.empty:
        _empty(ax, "no events before the as-of date")
        return _done(fig, made)
    x = np.arange(len(table))
    hatch = ["" if c else "//" for c in table.get("complete", pd.Series(True, index=table.index))]
    ax.bar(x, table["new_buyers"], color=_ORANGE, label="new buyers", hatch=hatch)
    ax.bar(x, table["returning_buyers"], bottom=table["new_buyers"], color=_BLUE,
           label="returning buyers", hatch=hatch)
    ax.set_ylabel("buyers")
    step = max(1, len(x) // 12)
    ax.set_xticks(x[::step], table["period"].iloc[::step], rotation=45, ha="right")
    money = ax.twinx()
    money.plot(x, table["net_revenue"], color=_GREEN, marker=".", label="net revenue")
    money.set_ylabel("net revenue")
    money.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()[0] + money.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=8, loc="upper left")
    ax.set_title("Activity over time")
    return _done(fig, made)


def plot_promotion_effects(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """Orders on each promotion day against the surrounding days' daily mean, lift on top.

    Examples
    --------
    >>> t = pd.DataFrame({"date": pd.to_datetime(["2024-06-18", "2024-11-11"]),
    ...     "orders": [30, 90], "baseline_orders": [10.0, 15.0], "order_lift": [3.0, 6.0]})
    >>> [x.get_text() for x in plot_promotion_effects(t).axes[0].texts]
    ['x3.0', 'x6.0']
    """
    _need(table, ("date", "orders", "baseline_orders", "order_lift"), "promotion_effects")
    fig, ax, made = _axes(ax, (8, 4))
    if table.empty:
        _empty(ax, "no promotion day before the as-of date")
        return _done(fig, made)
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["baseline_orders"], 0.4, color=_GREY, label="surrounding days (mean)")
    ax.bar(x + 0.2, table["orders"], 0.4, color=_ORANGE, label="promotion day")
    for k, (n, lift) in enumerate(zip(table["orders"], table["order_lift"], strict=True)):
        if lift == lift:
            ax.annotate(f"x{lift:.1f}", (k + 0.2, n), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [pd.Timestamp(d).strftime("%Y-%m-%d") for d in table["date"]], rotation=45,
                  ha="right")
    ax.set_ylabel("orders per day")
    ax.legend(fontsize=8)
    ax.set_title("Promotion days")
    return _done(fig, made)


def plot_action_summary(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """Value at risk covered by each recommended action (bars), customers on each bar.

    Examples
    --------
    >>> t = pd.DataFrame({"action": ["vip", "win back"], "customers": [1, 2],
    ...                   "value_at_risk": [50.0, 40.0]})
    >>> [x.get_text() for x in plot_action_summary(t).axes[0].texts]
    ['1 customers', '2 customers']
    """
    _need(table, ("action", "customers", "value_at_risk"), "action_summary")
    fig, ax, made = _axes(ax, (8, 1.5 + 0.4 * max(len(table), 1)))
    if table.empty:
        _empty(ax, "the radar lists no customer")
        return _done(fig, made)
    y = np.arange(len(table))
    ax.barh(y, table["value_at_risk"], color=_ORANGE)
    ax.set_yticks(y, table["action"].astype(str))
    ax.invert_yaxis()
    for k, (n, value) in enumerate(zip(table["customers"], table["value_at_risk"], strict=True)):
        ax.annotate(f"{n:,} customers", (value, k), va="center", fontsize=8, xytext=(3, 0),
                    textcoords="offset points")
    ax.set_xlabel("value at risk")
    ax.set_title("Recommended actions")
    return _done(fig, made)


# ---------------------------------------------------------------- BTYD diagnostics


def _grid_plot(table: pd.DataFrame, column: str, title: str, label: str, ax: Any) -> Any:
    fig, ax, made = _axes(ax, (7, 5))
    if table.empty:
        _empty(ax, "no buyers")
        return _done(fig, made)
    grid = table.pivot(index="frequency", columns="recency", values=column)
    image = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", cmap="viridis",
                      extent=(-0.5, grid.columns.max() + 0.5, -0.5, grid.index.max() + 0.5))
    fig.colorbar(image, ax=ax, label=label)
    ax.set_xlabel("recency (periods from first to last order)")
    ax.set_ylabel("frequency (repeat orders)")
    ax.set_title(title)
    return _done(fig, made)


def plot_frequency_recency_matrix(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """Heat grid of :func:`frequency_recency_matrix` (expected orders next period).

    Examples
    --------
    >>> t = pd.DataFrame({"frequency": [0, 1, 1], "recency": [0.0, 0.0, 1.0],
    ...                   "expected_orders": [0.1, 0.05, 0.3]})
    >>> plot_frequency_recency_matrix(t).axes[0].get_title()
    'Expected orders in the next period'
    """
    _need(table, ("frequency", "recency", "expected_orders"), "frequency_recency_matrix")
    return _grid_plot(table, "expected_orders", "Expected orders in the next period",
                      "expected orders", ax)


def plot_probability_alive_matrix(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """Heat grid of :func:`probability_alive_matrix`.

    Examples
    --------
    >>> t = pd.DataFrame({"frequency": [0, 1, 1], "recency": [0.0, 0.0, 1.0],
    ...                   "p_alive": [1.0, 0.4, 0.9]})
    >>> plot_probability_alive_matrix(t).axes[0].get_title()
    'Probability a customer is still active'
    """
    _need(table, ("frequency", "recency", "p_alive"), "probability_alive_matrix")
    return _grid_plot(table, "p_alive", "Probability a customer is still active", "P(alive)", ax)


def _frequency_labels(table: pd.DataFrame) -> list[str]:
    """Repeat-order counts as tick labels, the last "or more" group with a plus."""
    return [f"{f}+" if more else f"{f}" for f, more in
            zip(table["frequency"], table["or_more"], strict=True)]


def plot_period_transactions(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """Customers per number of repeat orders: actual against BG/NBD.

    Examples
    --------
    >>> t = pd.DataFrame({"frequency": [0, 1], "or_more": [False, True], "actual": [60, 40],
    ...                   "expected": [58.0, 42.0]})
    >>> [x.get_text() for x in plot_period_transactions(t).axes[0].get_xticklabels()]
    ['0', '1+']
    """
    _need(table, ("frequency", "or_more", "actual", "expected"), "period_transactions")
    fig, ax, made = _axes(ax, (7, 4))
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["actual"], 0.4, color=_BLUE, label="actual")
    ax.bar(x + 0.2, table["expected"], 0.4, color=_ORANGE, label="BG/NBD")
    ax.set_xticks(x, _frequency_labels(table))
    ax.set_xlabel("repeat orders")
    ax.set_ylabel("customers")
    ax.legend(fontsize=8)
    ax.set_title("Repeat orders per customer")
    return _done(fig, made)


def plot_calibration_vs_holdout(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """Mean holdout orders per calibration frequency: actual against BG/NBD's forecast.

    Examples
    --------
    >>> t = pd.DataFrame({"frequency": [0, 1], "or_more": [False, True], "customers": [5, 3],
    ...                   "actual": [0.1, 0.8], "predicted": [0.12, 0.7]})
    >>> [line.get_label() for line in plot_calibration_vs_holdout(t).axes[0].lines]
    ['actual', 'BG/NBD']
    """
    _need(table, ("frequency", "or_more", "actual", "predicted"), "calibration_vs_holdout")
    fig, ax, made = _axes(ax, (7, 4))
    ax.plot(table["frequency"], table["actual"], marker="o", color=_BLUE, label="actual")
    ax.plot(table["frequency"], table["predicted"], marker="s", color=_ORANGE, label="BG/NBD")
    ax.set_xticks(table["frequency"], _frequency_labels(table))
    ax.set_xlabel("repeat orders in the calibration period")
    ax.set_ylabel("mean orders in the holdout")
    ax.legend(fontsize=8)
    ax.set_title("Calibration against holdout")
    return _done(fig, made)


def plot_cumulative_transactions(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """Cumulative repeat orders, actual against BG/NBD, with the calibration/holdout split.

    Examples
    --------
    >>> t = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=3), "actual": [0, 1, 3],
    ...                   "expected": [0.2, 1.1, 2.5], "holdout": [False, False, True]})
    >>> [line.get_label() for line in plot_cumulative_transactions(t).axes[0].lines][:2]
    ['actual', 'BG/NBD']
    """
    _need(table, ("date", "actual", "expected", "holdout"), "cumulative_transactions")
    fig, ax, made = _axes(ax, (8, 4))
    ax.plot(table["date"], table["actual"], color=_BLUE, label="actual")
    ax.plot(table["date"], table["expected"], color=_ORANGE, linestyle="--", label="BG/NBD")
    if table["holdout"].any():
        ax.axvline(table.loc[table["holdout"], "date"].iloc[0], color=_GREY, linestyle=":",
                   label="holdout starts")
    ax.set_ylabel("repeat orders (cumulative)")
    ax.legend(fontsize=8)
    ax.set_title("Cumulative repeat orders")
    fig.autofmt_xdate()
    return _done(fig, made)
