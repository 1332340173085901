"""How well a score finds the customers an action changes, from a randomised campaign.

Rows are sorted by the score, highest first; tied scores enter together. For
the top ``n`` rows, with ``N_t``, ``N_c`` treated and control customers and
``Y_t``, ``Y_c`` the sums of their outcomes:

* **uplift curve** ``U(n) = (Y_t / N_t - Y_c / N_c) x n`` (0 while a group is
  empty): incremental outcomes if the top ``n`` were treated, by the observed
  rates among them;
* **Qini curve** ``Q(n) = Y_t - Y_c x N_t / N_c`` (0 while the control group is
  empty): incremental outcomes among the treated of the top ``n``;
* **AUUC**: area under ``U`` against the fraction targeted, per customer of the
  population (``U / N``), trapezoids from (0, 0);
* **Qini coefficient**: area between ``Q / N`` and the straight line of random
  targeting from (0, 0) to (1, Q(N) / N) (Radcliffe's unnormalised form);
* **uplift at k**: treated minus control outcome rate in the top fraction ``k``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["uplift_curves", "auuc", "qini_coefficient", "uplift_at_k"]


def _arrays(outcome: Any, treatment: Any, score: Any) -> tuple[np.ndarray, ...]:
    y = np.asarray(outcome, dtype=float)
    t = np.asarray(treatment)
    if t.dtype.kind in "OUS":
        t = t == "treatment"
    t = t.astype(bool)
    s = np.asarray(score, dtype=float)
    if not (y.shape == t.shape == s.shape) or y.ndim != 1:
        raise ValueError(f"outcome, treatment and score must be 1-d and of one length, got "
                         f"{y.shape}, {t.shape} and {s.shape}.")
    if len(y) == 0:
        raise ValueError("outcome: need at least one row.")
    if not (np.isfinite(y).all() and np.isfinite(s).all()):
        raise ValueError("outcome and score: expected finite numbers (no NaN or infinity).")
    return y, t, s


def uplift_curves(outcome: Any, treatment: Any, score: Any) -> pd.DataFrame:
    """The uplift and Qini curves, one row per distinct score (from the highest) plus (0, 0).

    Parameters
    ----------
    outcome : array-like
        Outcome per customer (0/1 conversion, or money).
    treatment : array-like
        1/True (or ``"treatment"``) for treated customers, 0/False for the holdout.
    score : array-like
        Predicted uplift (higher: treat first).

    Returns
    -------
    DataFrame
        ``n``, ``fraction``, ``n_treatment``, ``n_control``, ``uplift`` (U) and ``qini`` (Q).

    Examples
    --------
    >>> uplift_curves([1, 0, 1, 0], [1, 1, 0, 0], [4, 3, 2, 1])[["n", "uplift", "qini"]]
       n  uplift  qini
    0  0     0.0   0.0
    1  1     0.0   0.0
    2  2     0.0   0.0
    3  3    -1.5  -1.0
    4  4     0.0   0.0
    """
    y, t, s = _arrays(outcome, treatment, score)
    order = np.argsort(-s, kind="mergesort")
    y, t, s = y[order], t[order], s[order]
    nt, nc = np.cumsum(t), np.cumsum(~t)
    yt, yc = np.cumsum(y * t), np.cumsum(y * ~t)
    ends = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]  # last row of each tie group
    nt, nc, yt, yc = nt[ends], nc[ends], yt[ends], yc[ends]
    n = ends + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_gap = np.where((nt > 0) & (nc > 0), yt / nt - yc / nc, 0.0)
        qini = np.where(nc > 0, yt - yc * nt / nc, 0.0)
    return pd.DataFrame({"n": np.r_[0, n], "fraction": np.r_[0.0, n / len(s)],
                         "n_treatment": np.r_[0, nt], "n_control": np.r_[0, nc],
                         "uplift": np.r_[0.0, rate_gap * n], "qini": np.r_[0.0, qini]})


def _area(y: np.ndarray, x: np.ndarray) -> float:
    """Trapezoid rule (numpy's own is named differently across the versions we support)."""
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)))


def auuc(outcome: Any, treatment: Any, score: Any) -> float:
    """Area under the uplift curve, per customer (see the module docstring).

    Examples
    --------
    >>> auuc([1, 0, 1, 0], [1, 1, 0, 0], [4, 3, 2, 1])
    -0.09375
    """
    curve = uplift_curves(outcome, treatment, score)
    total = curve["n"].iloc[-1]
    return float(_area(curve["uplift"].to_numpy() / total, curve["fraction"].to_numpy()))


def qini_coefficient(outcome: Any, treatment: Any, score: Any) -> float:
    """Area between the Qini curve and random targeting, per customer.

    Examples
    --------
    >>> qini_coefficient([1, 0, 1, 0], [1, 1, 0, 0], [4, 3, 2, 1])
    -0.0625
    """
    curve = uplift_curves(outcome, treatment, score)
    total = curve["n"].iloc[-1]
    q = curve["qini"].to_numpy() / total
    x = curve["fraction"].to_numpy()
    return float(_area(q - x * q[-1], x))


def uplift_at_k(outcome: Any, treatment: Any, score: Any, *, k: float = 0.2) -> float:
    """Observed treated minus control outcome rate among the top fraction ``k`` by score.

    Rows tied with the last one inside the top ``k`` are kept with it; NaN when the top
    holds no treated or no control customer.

    Examples
    --------
    >>> uplift_at_k([1, 0, 1, 0, 0, 0], [1, 0, 1, 0, 1, 0], [6, 5, 4, 3, 2, 1], k=0.5)
    1.0
    """
    if not 0 < k <= 1:
        raise ValueError(f"k: expected a fraction in (0, 1], got {k!r}.")
    y, t, s = _arrays(outcome, treatment, score)
    cut = np.sort(s)[::-1][max(int(np.ceil(k * len(s))) - 1, 0)]
    top = s >= cut
    treated, control = top & t, top & ~t
    if not treated.any() or not control.any():
        return float("nan")
    return float(y[treated].mean() - y[control].mean())
