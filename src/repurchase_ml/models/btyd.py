"""Classic customer-base models fitted fast: BG/NBD, Pareto/NBD and Gamma-Gamma by maximum likelihood.

- **BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers the easy
  way"): while alive a customer buys as a Poisson process with rate
  ``lambda ~ Gamma(r, alpha)``; after each repeat purchase they drop out with
  probability ``p ~ Beta(a, b)``. Summaries per customer: ``frequency`` x
  (repeat orders), ``recency`` t_x (first to last order) and ``T`` (first
  order to the end of observation), in one time unit.
- **Pareto/NBD** (Schmittlein, Morrison & Colombo 1987): the same purchase
  process, with an exponential lifetime of rate ``mu ~ Gamma(s, beta)``
  instead of dropout at purchases. Its likelihood needs the hypergeometric
  function and is fitted with finite-difference gradients (about 20-60
  times the BG/NBD time); :class:`ClassicModel` uses it on request or when
  it fits better (``model="best"``).
- **Gamma-Gamma** (Fader, Hardie & Lee 2005, "RFM and CLV"): the mean value of
  a repeat customer's orders shrunk towards the population mean.

The likelihoods are closed form (``gammaln``, ``betaln``) with analytic
gradients, maximised by L-BFGS-B on the log-parameters. Everything that
depends on a customer only through the integer ``frequency`` is computed once
per distinct frequency, and identical summary rows are merged and weighted,
so a fit on 100,000 customers takes a fraction of a second
(``benchmarks/btyd.py``). PyMC-Marketing (``backend="pymc"`` in
:mod:`repurchase_ml.models.baselines`) is the reference these are checked
against in the tests.

:class:`ClassicModel` reads feature rows of one cutoff (the output of
``build_features``), so the classic predictions count orders exactly as the
features and labels do; :func:`classic_predictions` gives each row of a
stacked training set the prediction of a model fitted at that row's cutoff.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import (
    betaincinv,
    betaln,
    digamma,
    expit,
    gammaln,
    hyp2f1,
    roots_legendre,
)
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from threadpoolctl import threadpool_limits

from repurchase_ml.errors import SchemaError
from repurchase_ml.events import FIXED_SCALE

__all__ = [
    "BGNBD_PARAMS",
    "GAMMA_GAMMA_PARAMS",
    "CLASSIC_COLUMNS",
    "SUMMARY_FEATURES",
    "ClassicFit",
    "fit_bgnbd",
    "bgnbd_log_likelihood",
    "bgnbd_probability_alive",
    "bgnbd_expected_orders",
    "bgnbd_probability_no_order",
    "PARETO_NBD_PARAMS",
    "fit_pareto_nbd",
    "pareto_nbd_log_likelihood",
    "pareto_nbd_probability_alive",
    "pareto_nbd_expected_orders",
    "pareto_nbd_probability_no_order",
    "fit_gamma_gamma",
    "gamma_gamma_log_likelihood",
    "gamma_gamma_expected_spend",
    "summary_from_features",
    "predict_summary",
    "CUSTOMER_BASE_MODELS",
    "ClassicModel",
    "classic_predictions",
]

logger = logging.getLogger(__name__)

#: parameter names of each model, in the order the optimiser sees them
BGNBD_PARAMS = ("r", "alpha", "a", "b")
PARETO_NBD_PARAMS = ("r", "alpha", "s", "beta")
GAMMA_GAMMA_PARAMS = ("p", "q", "v")

#: columns :meth:`ClassicModel.predict` returns
CLASSIC_COLUMNS = ("probability_alive", "probability_repurchase", "expected_orders",
                   "expected_orders_if_alive", "expected_spend", "expected_revenue")

_LOG_BOUND = 30.0  # parameters live in [e^-30, e^30]: wide enough for any time unit


@dataclass(frozen=True)
class ClassicFit:
    """A maximum-likelihood fit of BG/NBD or Gamma-Gamma.

    Attributes
    ----------
    params : dict of str to float
        The estimates (``r, alpha, a, b`` or ``p, q, v``).
    log_likelihood : float
        Total (weighted) log-likelihood at ``params``.
    n_customers : float
        Customers (sum of weights) the fit saw.
    n_rows : int
        Distinct summary rows the optimiser evaluated (after merging equal rows).
    converged : bool
        The optimiser's success flag.
    """

    params: dict[str, float]
    log_likelihood: float
    n_customers: float
    n_rows: int
    converged: bool


# --------------------------------------------------------------------------- input checks


def _as_float(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    bad = ~np.isfinite(arr)
    if bad.any():
        raise SchemaError(name, "must be a finite number", n_rows=int(bad.sum()),
                          examples=arr[bad][:5].tolist(),
                          fix="drop customers without a purchase before summarising")
    return arr


def _check_summary(frequency: Any, recency: Any, T: Any,
                   sample_weight: Any = None) -> tuple[np.ndarray, ...]:
    """Validated float arrays ``x, t_x, T, w`` (recency of one-time buyers set to 0)."""
    x, t_x, T = (_as_float(n, v) for n, v in
                 (("frequency", frequency), ("recency", recency), ("T", T)))
    if not len(x) == len(t_x) == len(T):
        raise ValueError(f"frequency, recency and T must have one length, got "
                         f"{len(x)}, {len(t_x)} and {len(T)}.")
    bad = (x < 0) | (x != np.round(x))
    if bad.any():
        raise SchemaError("frequency", "must be a whole number >= 0 (repeat orders)",
                          n_rows=int(bad.sum()), examples=x[bad][:5].tolist(),
                          fix="pass the count of orders minus one")
    t_x = np.where(x == 0, 0.0, t_x)
    bad = (t_x < 0) | (t_x > T * (1 + 1e-9) + 1e-12)
    if bad.any():
        raise SchemaError("recency", "must lie in [0, T] (first to last order)",
                          n_rows=int(bad.sum()),
                          examples=list(zip(t_x[bad][:5].tolist(), T[bad][:5].tolist(),
                                            strict=True)),
                          fix="measure recency and T from the first order, in one unit")
    w = np.ones_like(x) if sample_weight is None else _as_float("sample_weight", sample_weight)
    if len(w) != len(x):
        raise ValueError(f"sample_weight must have one weight per customer ({len(x)}), "
                         f"got {len(w)}.")
    if (w < 0).any():
        raise SchemaError("sample_weight", "must be >= 0", n_rows=int((w < 0).sum()),
                          examples=w[w < 0][:5].tolist(), fix="pass non-negative weights")
    return x, np.minimum(t_x, T), T, w


def _merge_rows(columns: tuple[np.ndarray, ...], w: np.ndarray) -> tuple[tuple[np.ndarray, ...],
                                                                          np.ndarray]:
    """Identical rows merged into one with the sum of their weights (zero weights dropped)."""
    keep = w > 0
    columns, w = tuple(c[keep] for c in columns), w[keep]
    if len(w) == 0:
        return columns, w
    order = np.lexsort(columns[::-1])
    sorted_cols = tuple(c[order] for c in columns)
    new = np.ones(len(w), dtype=bool)
    new[1:] = np.logical_or.reduce([c[1:] != c[:-1] for c in sorted_cols])
    group = np.cumsum(new) - 1
    return tuple(c[new] for c in sorted_cols), np.bincount(group, weights=w[order])


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    """Sum of products without BLAS: a BLAS dot wakes its threads for every call, which on a
    busy machine costs 100x the products themselves."""
    return float(np.einsum("i,i->", u, v))


def _params(values: Mapping[str, float], names: tuple[str, ...]) -> tuple[float, ...]:
    missing = [n for n in names if n not in values]
    if missing:
        raise ValueError(f"params must hold {list(names)}, missing {missing}; got {dict(values)}.")
    return tuple(float(values[n]) for n in names)


def _maximise(neg_ll_and_grad: Any, start: np.ndarray, total: float, *, jac: bool = True
              ) -> tuple[np.ndarray, bool]:
    """L-BFGS-B on log-parameters of the mean negative log-likelihood.

    ``neg_ll_and_grad(params)`` returns the value and its gradient, or with
    ``jac=False`` the value alone (the gradient is then taken by finite differences).
    """
    def objective(theta: np.ndarray) -> Any:
        if not jac:
            return neg_ll_and_grad(np.exp(theta)) / total
        value, grad = neg_ll_and_grad(np.exp(theta))
        return value / total, grad * np.exp(theta) / total

    # L-BFGS-B's own BLAS calls on 4-vectors: woken threads would cost 100x the work
    with np.errstate(all="ignore"), threadpool_limits(limits=1, user_api="blas"):
        res = minimize(objective, start, jac=jac, method="L-BFGS-B",
                       bounds=[(-_LOG_BOUND, _LOG_BOUND)] * len(start),
                       options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 2000})
    # a flat ridge (e.g. a, b -> infinity when the dropout probability is the same for
    # everyone) stops the line search where a factor e on any parameter moves the mean
    # log-likelihood by less than 1e-3: that is the maximum for every prediction
    gradient = getattr(res, "jac", None)
    converged = bool(res.success) or (gradient is not None and bool(np.max(np.abs(gradient))
                                                                     < 1e-3))
    if not converged:
        warnings.warn(f"maximum-likelihood fit did not converge: {res.message}", RuntimeWarning,
                      stacklevel=3)
    return np.exp(res.x), converged


# --------------------------------------------------------------------------- BG/NBD


class _BGNBDTerms:
    """A BG/NBD likelihood over fixed rows, split into one-time buyers and repeat customers.

    Per repeat customer the likelihood is
    ``A1 + A_alive + softplus(A_gone - A_alive)``; per one-time buyer it is
    ``A1 - r log(alpha + T)`` (they cannot have dropped out). Terms that
    depend on a row only through its frequency are computed once per distinct
    frequency, so an evaluation costs two logs and a softplus per row.
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> None:
        self.x_values, x_index = np.unique(x, return_inverse=True)
        self.w_per_x = np.bincount(x_index, weights=w, minlength=len(self.x_values))
        self.total = float(w.sum())
        self.repeat = x > 0
        once = ~self.repeat
        self.T0, self.w0 = T[once], w[once]
        self.idx = x_index[self.repeat]
        self.x, self.t_x, self.T, self.w = x[self.repeat], t_x[self.repeat], T[self.repeat], \
            w[self.repeat]
        self.wx = self.w * self.x

    def _parts(self, theta: np.ndarray) -> tuple[np.ndarray, ...]:
        r, alpha, a, b = theta
        xv = self.x_values
        base = betaln(a, b)
        with np.errstate(invalid="ignore"):
            c_alive = betaln(a, b + xv) - base
            c_gone = betaln(a + 1, b + xv - 1) - base
        log_mt0 = np.log(alpha + self.T0)
        log_mt = np.log(alpha + self.T)
        log_mtx = np.log(alpha + self.t_x)
        rx = r + self.x
        a_alive = c_alive[self.idx] - rx * log_mt
        gap = (c_gone - c_alive)[self.idx] + rx * (log_mt - log_mtx)
        return c_alive, log_mt0, log_mt, log_mtx, rx, a_alive, gap

    def per_row(self, theta: np.ndarray) -> np.ndarray:
        """Log-likelihood of each row, in the order of the rows given."""
        r, alpha = theta[0], theta[1]
        _, log_mt0, _, _, _, a_alive, gap = self._parts(theta)
        out = np.empty(len(self.repeat))
        a1 = -gammaln(r) + r * np.log(alpha)
        out[~self.repeat] = r * (np.log(alpha) - log_mt0)
        out[self.repeat] = (a1 + gammaln(r + self.x) + a_alive + np.logaddexp(0.0, gap))
        return out

    def value_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Weighted total log-likelihood and its gradient in ``(r, alpha, a, b)``."""
        r, alpha, a, b = theta
        xv, wx_k = self.x_values, self.w_per_x
        _, log_mt0, log_mt, log_mtx, rx, a_alive, gap = self._parts(theta)
        w, w0, total = self.w, self.w0, self.total
        value = (wx_k @ gammaln(r + xv) + total * (r * np.log(alpha) - gammaln(r))
                 - r * _dot(w0, log_mt0) + _dot(w, a_alive + np.logaddexp(0.0, gap)))
        gone = expit(gap)  # share of each repeat customer's likelihood from "dropped out"
        w_gone = w * gone
        d_r = (wx_k @ (digamma(r + xv) - digamma(r)) + total * np.log(alpha) - _dot(w0, log_mt0)
               - _dot(w, log_mt) + _dot(w_gone, log_mt - log_mtx))
        inv_t, inv_tx = 1.0 / (alpha + self.T), 1.0 / (alpha + self.t_x)
        d_alpha = (total * r / alpha - r * _dot(w0, 1.0 / (alpha + self.T0))
                   - _dot(r * w + self.wx, inv_t) + _dot(w_gone * rx, inv_t - inv_tx))
        gone_k = np.bincount(self.idx, weights=w_gone, minlength=len(xv))
        alive_k = np.bincount(self.idx, weights=w, minlength=len(xv)) - gone_k
        ab, abx = digamma(a + b), digamma(a + b + xv)
        used = gone_k > 0
        with np.errstate(invalid="ignore"):
            gone_b = digamma(b + xv - 1)
        d_a = alive_k @ (ab - abx) + gone_k[used] @ (digamma(a + 1) - digamma(a) + ab - abx)[used]
        d_b = (alive_k @ (digamma(b + xv) - digamma(b) + ab - abx)
               + gone_k[used] @ (gone_b - digamma(b) + ab - abx)[used])
        return float(value), np.array([d_r, d_alpha, d_a, d_b])


def bgnbd_log_likelihood(params: Mapping[str, float], frequency: Any, recency: Any,
                         T: Any) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood of ``(frequency, recency, T)``.

    Parameters
    ----------
    params : mapping
        ``r``, ``alpha``, ``a``, ``b`` (``alpha`` in the unit of ``recency`` and ``T``).
    frequency, recency, T : array-like
        Repeat orders, time from the first to the last order, time from the
        first order to the end of observation.

    Returns
    -------
    numpy.ndarray
        One log-likelihood per customer.

    Examples
    --------
    A one-time buyer observed for no time at all carries no information:

    >>> p = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> bgnbd_log_likelihood(p, [0, 2], [0.0, 20.0], [0.0, 30.0]).round(4).tolist()
    [0.0, -8.8588]
    """
    x, t_x, T, w = _check_summary(frequency, recency, T)
    return _BGNBDTerms(x, t_x, T, w).per_row(np.array(_params(params, BGNBD_PARAMS)))


def fit_bgnbd(frequency: Any, recency: Any, T: Any, *, sample_weight: Any = None) -> ClassicFit:
    """Maximum-likelihood BG/NBD fit.

    Equal summary rows are merged and weighted before the optimiser runs, so
    data summarised in days (or weeks) fits in milliseconds. ``T = 0`` rows
    (a first order at the very end of observation) are allowed and carry no
    information.

    Parameters
    ----------
    frequency, recency, T : array-like
        Per-customer summaries in one time unit (see :func:`bgnbd_log_likelihood`).
    sample_weight : array-like, optional
        A weight per customer (e.g. the number of customers a row stands for).

    Returns
    -------
    ClassicFit
        ``params`` holds ``r``, ``alpha`` (in the unit of the input), ``a``, ``b``.

    Raises
    ------
    ValueError
        When no customer has a repeat order: the dropout process (``a``,
        ``b``) is then not identified. Fit on a longer history.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> T = rng.uniform(10, 40, 2000)
    >>> x = rng.poisson(0.3 * T * rng.uniform(0, 1, 2000))
    >>> t_x = np.where(x > 0, T * rng.uniform(0.5, 1, 2000), 0)
    >>> fit = fit_bgnbd(x, t_x, T)
    >>> sorted(fit.params), fit.converged
    (['a', 'alpha', 'b', 'r'], True)
    """
    x, t_x, T, w = _check_summary(frequency, recency, T, sample_weight)
    if not (w[x > 0] > 0).any():
        raise ValueError(
            f"BG/NBD needs customers with a repeat order to estimate dropout; none of the "
            f"{int((w > 0).sum())} customers has one. Fit on a longer history (an earlier "
            f"first order or a later cutoff), or use a baseline without dropout.")
    (x, t_x, T), w = _merge_rows((x, t_x, T), w)
    terms = _BGNBDTerms(x, t_x, T, w)

    def neg(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = terms.value_and_grad(theta)
        return (-value, -grad) if np.isfinite(value) else (np.inf, np.zeros(4))

    start = np.log([1.0, max(float(np.average(T, weights=w)), 1e-6), 1.0, 1.0])
    theta, ok = _maximise(neg, start, float(w.sum()))
    ll = terms.value_and_grad(theta)[0]
    return ClassicFit(dict(zip(BGNBD_PARAMS, map(float, theta), strict=True)), ll,
                      float(w.sum()), len(w), ok)


def _bgnbd_inputs(params: Mapping[str, float], frequency: Any, recency: Any, T: Any
                  ) -> tuple[float, float, float, float, np.ndarray, np.ndarray, np.ndarray]:
    x, t_x, T, _ = _check_summary(frequency, recency, T)
    return (*_params(params, BGNBD_PARAMS), x, t_x, T)


def _log_death_odds(r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray,
                    T: np.ndarray) -> np.ndarray:
    """log of P(dropped out) / P(alive) at T; -inf without a repeat order."""
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.log(a / (b + x - 1)) + (r + x) * np.log((alpha + T) / (alpha + t_x))
    return np.where(x > 0, odds, -np.inf)


def bgnbd_probability_alive(params: Mapping[str, float], frequency: Any, recency: Any,
                            T: Any) -> np.ndarray:
    """P(a customer is still alive at T) under BG/NBD (Fader, Hardie & Lee 2008 note).

    Exactly 1 for customers without a repeat order: in BG/NBD a customer can
    drop out only right after a repeat purchase.

    Examples
    --------
    >>> p = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> bgnbd_probability_alive(p, [0, 2, 2], [0, 30, 5], [38, 38, 38]).round(3).tolist()
    [1.0, 0.73, 0.129]
    """
    r, alpha, a, b, x, t_x, T = _bgnbd_inputs(params, frequency, recency, T)
    return 1.0 / (1.0 + np.exp(_log_death_odds(r, alpha, a, b, x, t_x, T)))


def bgnbd_expected_orders(params: Mapping[str, float], frequency: Any, recency: Any, T: Any,
                          t: Any) -> np.ndarray:
    """Expected orders in ``(T, T + t]`` given the history (equation 10 of the paper).

    Divide by :func:`bgnbd_probability_alive` for the expectation if the
    customer is alive (a customer who dropped out buys nothing).

    Examples
    --------
    >>> p = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> bgnbd_expected_orders(p, [0, 2], [0, 30], [38, 38], t=39).round(4).tolist()
    [0.1987, 1.2529]
    """
    r, alpha, a, b, x, t_x, T = _bgnbd_inputs(params, frequency, recency, T)
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
    a_ = 1.0 + 1e-8 if abs(a - 1.0) < 1e-8 else a  # the closed form is 0/0 at a = 1
    mt = alpha + T
    with np.errstate(all="ignore"):
        if_alive = (a_ + b + x - 1) / (a_ - 1) * (
            1.0 - (mt / (mt + t)) ** (r + x) * hyp2f1(r + x, b + x, a_ + b + x - 1, t / (mt + t)))
    bad = ~np.isfinite(if_alive)
    if bad.any():  # hyp2f1 fails for extreme parameters (a degenerate fit): integrate instead
        if_alive[bad] = _orders_if_alive_by_quadrature(r, a, b, x[bad], mt[bad], t[bad])
    return if_alive / (1.0 + np.exp(_log_death_odds(r, alpha, a, b, x, t_x, T)))


def _orders_if_alive_by_quadrature(r: float, a: float, b: float, x: np.ndarray, mt: np.ndarray,
                                   t: np.ndarray, n_nodes: int = 128) -> np.ndarray:
    """E[orders in t | alive at T] as an integral over the dropout probability.

    Alive at T, the purchase rate is ``Gamma(r + x, alpha + T)`` (``mt`` is
    ``alpha + T``) and the dropout probability ``Beta(a, b + x)``; given both,
    orders until dropout number ``(1 - exp(-lambda p t)) / p`` in expectation.
    The rate integrates in closed form; the dropout probability by
    Gauss-Legendre quadrature over its quantiles, which stays finite for any
    parameters (relative error about 1e-6).
    """
    u, weights = roots_legendre(n_nodes)
    u, weights = (u + 1) / 2, weights / 2
    out = np.empty(len(x))
    for value in np.unique(x):
        rows = x == value
        p = np.clip(betaincinv(a, b + value, u), 1e-300, 1.0)
        ahead = np.log1p(p[None, :] * t[rows, None] / mt[rows, None])
        out[rows] = np.einsum("ij,j->i", -np.expm1(-(r + value) * ahead) / p[None, :], weights)
    return out


def bgnbd_probability_no_order(params: Mapping[str, float], frequency: Any, recency: Any,
                               T: Any, t: Any) -> np.ndarray:
    """P(no order in ``(T, T + t]``) given the history.

    ``P(dropped out) + P(alive) * ((alpha + T) / (alpha + T + t)) ** (r + x)``
    (Fader & Hardie, "A step-by-step derivation of the BG/NBD model", 2019,
    equation 34): an alive customer's purchase rate has the posterior
    ``Gamma(r + x, alpha + T)``. PyMC-Marketing 0.19 implements the same
    formula but keeps the dropout term for one-time buyers, who cannot have
    dropped out; it agrees with this function for ``frequency > 0``.

    Examples
    --------
    >>> p = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> bgnbd_probability_no_order(p, [0, 2], [0, 30], [38, 38], t=39).round(4).tolist()
    [0.8535, 0.4391]
    """
    r, alpha, a, b, x, t_x, T = _bgnbd_inputs(params, frequency, recency, T)
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
    alive = 1.0 / (1.0 + np.exp(_log_death_odds(r, alpha, a, b, x, t_x, T)))
    return (1.0 - alive) + alive * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))


# --------------------------------------------------------------------------- Pareto/NBD


def _pareto_nbd_logs(theta: Any, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per row: log of the "still alive" part of the likelihood, and the log-likelihood.

    Fader, Hardie & Lee (2005), "A note on deriving the Pareto/NBD model and
    related expressions", equations (22) and (23) (whichever of alpha and
    beta is larger sets the hypergeometric terms); the difference of the two
    2F1 terms is taken in log space.
    """
    r, alpha, s, beta = theta
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    log_alive = a1 - (r + x) * np.log(alpha + T) - s * np.log(beta + T)
    rsx = r + s + x
    big, second = (alpha, s + 1.0 + 0 * x) if alpha >= beta else (beta, r + x)
    gap = abs(alpha - beta)

    def log_term(t: Any, rsx: Any, second: Any) -> Any:
        return np.log(hyp2f1(rsx, second, rsx + 1, gap / (big + t))) - rsx * np.log(big + t)

    with np.errstate(divide="ignore", invalid="ignore"):
        at_end = log_term(T, rsx, second)
        # one-time buyers all have t_x = 0 and x = 0: one value serves them all
        repeat = x > 0
        at_last = np.full(len(x), log_term(0.0, r + s, s + 1.0 if alpha >= beta else r))
        at_last[repeat] = log_term(t_x[repeat], rsx[repeat], second[repeat])
        log_a0 = at_last + np.log1p(-np.exp(np.minimum(at_end - at_last, 0.0)))
        log_gone = a1 + np.log(s) - np.log(rsx) + log_a0
    return log_alive, np.logaddexp(log_alive, log_gone)


def pareto_nbd_log_likelihood(params: Mapping[str, float], frequency: Any, recency: Any,
                              T: Any) -> np.ndarray:
    """Per-customer Pareto/NBD log-likelihood (Schmittlein, Morrison & Colombo 1987).

    While alive a customer buys at rate ``lambda ~ Gamma(r, alpha)`` and
    stays alive for an exponential time with rate ``mu ~ Gamma(s, beta)``.

    Examples
    --------
    >>> p = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    >>> pareto_nbd_log_likelihood(p, [0, 2], [0.0, 20.0], [30.0, 30.0]).round(4).tolist()
    [-0.4855, -8.8362]
    """
    x, t_x, T, _ = _check_summary(frequency, recency, T)
    return _pareto_nbd_logs(_params(params, PARETO_NBD_PARAMS), x, t_x, T)[1]


def fit_pareto_nbd(frequency: Any, recency: Any, T: Any, *, sample_weight: Any = None
                   ) -> ClassicFit:
    """Maximum-likelihood Pareto/NBD fit (finite-difference gradient; slower than BG/NBD).

    Parameters and errors as :func:`fit_bgnbd`; ``params`` holds ``r``,
    ``alpha``, ``s``, ``beta``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> T = rng.uniform(10, 40, 1000)
    >>> x = rng.poisson(0.3 * T * rng.uniform(0, 1, 1000))
    >>> t_x = np.where(x > 0, T * rng.uniform(0.5, 1, 1000), 0)
    >>> sorted(fit_pareto_nbd(x, t_x, T).params)
    ['alpha', 'beta', 'r', 's']
    """
    x, t_x, T, w = _check_summary(frequency, recency, T, sample_weight)
    if not (w[x > 0] > 0).any():
        raise ValueError(
            f"Pareto/NBD needs customers with a repeat order to estimate dropout; none of the "
            f"{int((w > 0).sum())} customers has one. Fit on a longer history.")
    (x, t_x, T), w = _merge_rows((x, t_x, T), w)

    def neg(theta: np.ndarray) -> float:
        value = -_dot(w, _pareto_nbd_logs(theta, x, t_x, T)[1])
        return value if np.isfinite(value) else 1e300

    mean_t = max(float(np.average(T, weights=w)), 1e-6)
    theta, ok = _maximise(neg, np.log([1.0, mean_t, 1.0, mean_t]), float(w.sum()), jac=False)
    return ClassicFit(dict(zip(PARETO_NBD_PARAMS, map(float, theta), strict=True)),
                      float(-neg(theta)), float(w.sum()), len(w), ok)


def pareto_nbd_probability_alive(params: Mapping[str, float], frequency: Any, recency: Any,
                                 T: Any) -> np.ndarray:
    """P(alive at T) under Pareto/NBD: the "still alive" share of the likelihood.

    Examples
    --------
    >>> p = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    >>> pareto_nbd_probability_alive(p, [0, 2], [0, 30], [38, 38]).round(3).tolist()
    [0.3, 0.875]
    """
    x, t_x, T, _ = _check_summary(frequency, recency, T)
    log_alive, ll = _pareto_nbd_logs(_params(params, PARETO_NBD_PARAMS), x, t_x, T)
    return np.exp(log_alive - ll)


def pareto_nbd_expected_orders(params: Mapping[str, float], frequency: Any, recency: Any,
                               T: Any, t: Any) -> np.ndarray:
    """Expected orders in ``(T, T + t]`` under Pareto/NBD (equation 41 of the note).

    Examples
    --------
    >>> p = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    >>> pareto_nbd_expected_orders(p, [0, 2], [0, 30], [38, 38], t=39).round(4).tolist()
    [0.1106, 1.4867]
    """
    r, alpha, s, beta = _params(params, PARETO_NBD_PARAMS)
    x, t_x, T, _ = _check_summary(frequency, recency, T)
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
    alive = pareto_nbd_probability_alive(params, x, t_x, T)
    stay = np.log(beta + T) - np.log(beta + T + t)  # log of the survival ratio
    lifetime = (-np.expm1((s - 1) * stay) / (s - 1)) if abs(s - 1) > 1e-8 else -stay
    return alive * (r + x) * (beta + T) / (alpha + T) * lifetime


def pareto_nbd_probability_no_order(params: Mapping[str, float], frequency: Any, recency: Any,
                                    T: Any, t: Any, *, n_nodes: int = 64) -> np.ndarray:
    """P(no order in ``(T, T + t]``) under Pareto/NBD.

    Alive at T, the rates are ``lambda ~ Gamma(r + x, alpha + T)`` and
    ``mu ~ Gamma(s, beta + T)``, independent; no order comes before the
    earlier of dropout and the horizon, so ``P = E[exp(-(lambda + mu) t)] +
    integral over u in [0, t] of E[mu exp(-mu u)] E[exp(-lambda u)]``. The
    first term is closed form, the integral is taken by Gauss-Legendre
    quadrature; a customer who has dropped out buys nothing.

    Examples
    --------
    >>> p = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    >>> pareto_nbd_probability_no_order(p, [0, 2], [0, 30], [38, 38], t=39).round(4).tolist()
    [0.9288, 0.4014]
    """
    r, alpha, s, beta = _params(params, PARETO_NBD_PARAMS)
    x, t_x, T, _ = _check_summary(frequency, recency, T)
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
    alive = pareto_nbd_probability_alive(params, x, t_x, T)
    a_t, b_t, k = (alpha + T)[:, None], (beta + T)[:, None], (r + x)[:, None]
    nodes, weights = roots_legendre(n_nodes)
    u = t[:, None] * (nodes[None, :] + 1) / 2
    # E[mu exp(-mu u)] E[exp(-lambda u)]: dropout at u with no order before it
    dropout_first = s / b_t * np.exp(-(s + 1) * np.log1p(u / b_t) - k * np.log1p(u / a_t))
    dropped = np.einsum("ij,j->i", dropout_first, weights) * t / 2
    neither = np.exp(-(r + x) * np.log1p(t / (alpha + T)) - s * np.log1p(t / (beta + T)))
    return (1.0 - alive) + alive * (neither + dropped)


# --------------------------------------------------------------------------- Gamma-Gamma


def _check_spend(frequency: Any, monetary_value: Any, sample_weight: Any = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = _as_float("frequency", frequency)
    m = _as_float("monetary_value", monetary_value)
    if len(x) != len(m):
        raise ValueError(f"frequency and monetary_value must have one length, got "
                         f"{len(x)} and {len(m)}.")
    w = np.ones_like(x) if sample_weight is None else _as_float("sample_weight", sample_weight)
    if len(w) != len(x):
        raise ValueError(f"sample_weight must have one weight per customer ({len(x)}), "
                         f"got {len(w)}.")
    return x, m, w


def gamma_gamma_log_likelihood(params: Mapping[str, float], frequency: Any,
                               monetary_value: Any) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of the mean value of ``frequency`` orders.

    Examples
    --------
    >>> p = {"p": 6.25, "q": 3.74, "v": 15.44}
    >>> gamma_gamma_log_likelihood(p, [1, 4], [30.0, 35.0]).round(4).tolist()
    [-3.9485, -4.0473]
    """
    p, q, v = _params(params, GAMMA_GAMMA_PARAMS)
    x, m, _ = _check_spend(frequency, monetary_value)
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m)
            + px * np.log(x) - (px + q) * np.log(x * m + v))


def fit_gamma_gamma(frequency: Any, monetary_value: Any, *, sample_weight: Any = None
                    ) -> ClassicFit:
    """Maximum-likelihood Gamma-Gamma fit on customers with a repeat order and positive spend.

    Rows with ``frequency == 0`` or ``monetary_value <= 0`` are left out of
    the fit (they say nothing about spend, or break the model's positive
    support); :func:`gamma_gamma_expected_spend` still predicts them.

    Parameters
    ----------
    frequency : array-like
        Repeat orders (the number of values averaged).
    monetary_value : array-like
        Mean value of the repeat orders.
    sample_weight : array-like, optional

    Raises
    ------
    ValueError
        With fewer than 2 usable customers, or when the fit puts ``q <= 1``
        (no finite population mean spend).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = rng.integers(1, 6, 3000)
    >>> nu = rng.gamma(3.0, 1 / 30.0, 3000)
    >>> m = rng.gamma(6.0 * x, 1 / (nu * x))
    >>> fit = fit_gamma_gamma(x, m)
    >>> round(float(fit.params["p"] * fit.params["v"] / (fit.params["q"] - 1) / m.mean()), 1)
    1.0
    """
    x, m, w = _check_spend(frequency, monetary_value, sample_weight)
    use = (x > 0) & (m > 0) & (w > 0)
    if use.sum() < 2:
        raise ValueError(f"Gamma-Gamma needs at least 2 customers with a repeat order and "
                         f"positive mean value, got {int(use.sum())}; fit on a longer history.")
    (x, m), w = _merge_rows((x[use], m[use]), w[use])
    xv, idx = np.unique(x, return_inverse=True)
    wx = np.bincount(idx, weights=w, minlength=len(xv))
    log_m, log_x = np.log(m), np.log(xv)
    total = float(w.sum())

    def neg(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, v = theta
        pxv = p * xv
        log_xmv = np.log(x * m + v)
        value = (wx @ (gammaln(pxv + q) - gammaln(pxv) + pxv * log_x)
                 + total * (q * np.log(v) - gammaln(q))
                 + _dot(w, (p * x - 1) * log_m - (p * x + q) * log_xmv))
        d_p = (wx @ (xv * (digamma(pxv + q) - digamma(pxv) + log_x))
               + _dot(w, x * (log_m - log_xmv)))
        d_q = wx @ digamma(pxv + q) + total * (np.log(v) - digamma(q)) - _dot(w, log_xmv)
        d_v = total * q / v - _dot(w, (p * x + q) / (x * m + v))
        if not np.isfinite(value):
            return np.inf, np.zeros(3)
        return -value, -np.array([d_p, d_q, d_v])

    mean = float(np.average(m, weights=w))
    theta, ok = _maximise(neg, np.log([1.0, 2.0, mean]), total)
    params = dict(zip(GAMMA_GAMMA_PARAMS, map(float, theta), strict=True))
    if params["q"] <= 1:
        raise ValueError(f"Gamma-Gamma fit has q = {params['q']:.3g} <= 1, so the population "
                         f"mean spend is infinite; the order values are too heavy-tailed. "
                         f"Cap extreme order values or fit on more customers.")
    return ClassicFit(params, float(-neg(theta)[0]), total, len(w), ok)


def gamma_gamma_expected_spend(params: Mapping[str, float], frequency: Any,
                               monetary_value: Any) -> np.ndarray:
    """Expected value of a customer's future order (shrunk mean of their repeat orders).

    ``(p v + p x m) / (p x + q - 1)``: the population mean ``p v / (q - 1)``
    for customers without a repeat order, moving towards their own mean ``m``
    as ``x`` grows. A mean below 0 (refunds exceeding purchases) counts as 0.

    Examples
    --------
    >>> p = {"p": 6.25, "q": 3.74, "v": 15.44}
    >>> gamma_gamma_expected_spend(p, [0, 1, 10], [0.0, 100.0, 100.0]).round(2).tolist()
    [35.22, 80.26, 97.28]
    """
    p, q, v = _params(params, GAMMA_GAMMA_PARAMS)
    x, m, _ = _check_spend(frequency, monetary_value)
    m = np.where(x > 0, np.maximum(m, 0.0), 0.0)
    return (p * v + p * x * m) / (p * x + q - 1)


# --------------------------------------------------------------------------- feature rows


#: feature columns :class:`ClassicModel` reads (``net_revenue_all`` and ``first_order_value``
#: are used when present)
SUMMARY_FEATURES = ("orders_all", "days_since_first_purchase", "days_since_last_purchase",
                    "revenue_all")


def summary_from_features(features: pd.DataFrame, *, period_days: float = 7.0) -> pd.DataFrame:
    """BG/NBD and Gamma-Gamma summaries from feature rows (one row per input row).

    ``frequency = orders_all - 1``, ``T = days_since_first_purchase``,
    ``recency = days_since_first_purchase - days_since_last_purchase`` (both
    divided by ``period_days``), and ``monetary_value``, the mean value of the
    repeat orders: ``(money - first_order_value) / frequency`` where money is
    ``net_revenue_all`` (purchases minus refunds) when the column exists and
    ``revenue_all`` otherwise; without ``first_order_value`` the mean over all
    orders. Orders are counted as the feature engine counts them (a distinct
    ``order_id``), so the classic models forecast what the labels count. Rows
    without a purchase (``orders_all`` 0 or NaN) get NaN everywhere.

    Examples
    --------
    >>> f = pd.DataFrame({"orders_all": [3.0, 1.0, 0.0], "revenue_all": [90.0, 20.0, 0.0],
    ...                   "days_since_first_purchase": [70.0, 7.0, np.nan],
    ...                   "days_since_last_purchase": [14.0, 7.0, np.nan],
    ...                   "first_order_value": [30.0, 20.0, np.nan]})
    >>> summary_from_features(f).to_dict("list")
    {'frequency': [2.0, 0.0, nan], 'recency': [8.0, 0.0, nan], 'T': [10.0, 1.0, nan], 'monetary_value': [30.0, 0.0, nan]}
    """
    if not isinstance(features, pd.DataFrame):
        raise TypeError(f"features must be a pandas DataFrame, got {type(features).__name__}.")
    for col in SUMMARY_FEATURES:
        if col not in features.columns:
            raise SchemaError(col, "the classic models need this feature column",
                              fix="build features with repurchase_ml.build_features "
                                  "(RFM and lifecycle families on)")
    if not np.isfinite(period_days) or period_days <= 0:
        raise ValueError(f"period_days must be a positive number, got {period_days!r}.")
    orders = features["orders_all"].to_numpy(dtype=np.float64)
    bought = np.isfinite(orders) & (orders >= 1)
    x = np.where(bought, orders - 1, np.nan)
    T = np.where(bought, features["days_since_first_purchase"].to_numpy(np.float64), np.nan)
    last = features["days_since_last_purchase"].to_numpy(np.float64)
    money_col = "net_revenue_all" if "net_revenue_all" in features.columns else "revenue_all"
    money = features[money_col].to_numpy(np.float64)
    if "first_order_value" in features.columns:
        # money is exact to 1 / FIXED_SCALE: a difference that is 0 must not come out 1e-15
        repeat_money = np.round((money - features["first_order_value"].to_numpy(np.float64))
                                * FIXED_SCALE) / FIXED_SCALE
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(x > 0, repeat_money / x, 0.0)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(x > 0, money / orders, 0.0)
    recency = np.where(x > 0, np.clip(T - last, 0.0, None), 0.0)
    return pd.DataFrame(
        {
            "frequency": x,
            "recency": np.where(bought, recency, np.nan) / period_days,
            "T": T / period_days,
            "monetary_value": np.where(bought, mean, np.nan),
        },
        index=features.index,
    )


def _check_horizon(horizon_days: float) -> float:
    if not np.isfinite(horizon_days) or horizon_days <= 0:
        raise ValueError(f"horizon_days must be a positive number, got {horizon_days!r}.")
    return float(horizon_days)


#: the customer-base models :class:`ClassicModel` can fit: name -> (parameter names, fit,
#: P(alive), expected orders, P(no order))
CUSTOMER_BASE_MODELS: dict[str, tuple[tuple[str, ...], Any, Any, Any, Any]] = {
    "bgnbd": (BGNBD_PARAMS, fit_bgnbd, bgnbd_probability_alive, bgnbd_expected_orders,
              bgnbd_probability_no_order),
    "pareto_nbd": (PARETO_NBD_PARAMS, fit_pareto_nbd, pareto_nbd_probability_alive,
                   pareto_nbd_expected_orders, pareto_nbd_probability_no_order),
}


def predict_summary(params: Mapping[str, float],
                    gamma_gamma_params: Mapping[str, float] | None, summary: pd.DataFrame,
                    *, horizon: float, model: str = "bgnbd") -> pd.DataFrame:
    """:data:`CLASSIC_COLUMNS` for summary rows; ``horizon`` in the unit of the summaries.

    ``params`` are those of ``model`` (a key of :data:`CUSTOMER_BASE_MODELS`).
    Rows with a NaN ``frequency`` (no purchase) stay NaN; so do the spend
    columns when ``gamma_gamma_params`` is None.

    Examples
    --------
    >>> bg = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> s = pd.DataFrame({"frequency": [2.0, np.nan], "recency": [30.0, np.nan],
    ...                   "T": [38.0, np.nan], "monetary_value": [40.0, np.nan]})
    >>> predict_summary(bg, None, s, horizon=39)["expected_orders"].round(4).tolist()
    [1.2529, nan]
    """
    if model not in CUSTOMER_BASE_MODELS:
        raise ValueError(f"model must be one of {sorted(CUSTOMER_BASE_MODELS)}, got {model!r}.")
    _, _, alive_of, orders_of, no_order_of = CUSTOMER_BASE_MODELS[model]
    ok = summary["frequency"].notna().to_numpy()
    rows = summary.loc[ok]
    x, t_x, T = (rows[c].to_numpy() for c in ("frequency", "recency", "T"))
    out = pd.DataFrame(np.nan, index=summary.index, columns=list(CLASSIC_COLUMNS))
    alive = alive_of(params, x, t_x, T)
    orders = orders_of(params, x, t_x, T, horizon)
    out.loc[ok, "probability_alive"] = alive
    out.loc[ok, "probability_repurchase"] = 1.0 - no_order_of(params, x, t_x, T, horizon)
    out.loc[ok, "expected_orders"] = orders
    out.loc[ok, "expected_orders_if_alive"] = orders / alive
    if gamma_gamma_params is not None:
        spend = gamma_gamma_expected_spend(gamma_gamma_params, x, rows["monetary_value"])
        out.loc[ok, "expected_spend"] = spend
        out.loc[ok, "expected_revenue"] = orders * spend
    return out


class ClassicModel(BaseEstimator):
    """BG/NBD (+ Gamma-Gamma) fitted on feature rows of one cutoff, on the scikit-learn contract.

    Parameters
    ----------
    model : {"bgnbd", "pareto_nbd", "best"}, default "bgnbd"
        The purchase and dropout model. ``"best"`` fits both and keeps the
        one with the higher log-likelihood (both have four parameters, so
        this is also the lower AIC). Pareto/NBD fits take several times
        longer than BG/NBD (no analytic gradient).
    period_days : float, default 7.0
        Internal time unit (weeks). ``params_["alpha"]`` is in this unit;
        predictions do not depend on it.
    gamma_gamma : bool, default True
        Also fit Gamma-Gamma for ``expected_spend`` and ``expected_revenue``
        (NaN without it, or when fewer than ``min_spend_customers`` customers
        have a repeat order with positive mean value; a warning says so).
    min_spend_customers : int, default 10

    Attributes
    ----------
    model_ : str
        The model fitted (``"bgnbd"`` or ``"pareto_nbd"``).
    params_ : dict
        Its parameters: BG/NBD ``r, alpha, a, b`` or Pareto/NBD ``r, alpha, s, beta``.
    log_likelihoods_ : dict
        Log-likelihood of each model fitted (both with ``model="best"``).
    gamma_gamma_params_ : dict or None
        Gamma-Gamma ``p, q, v``.
    log_likelihood_ : float
        Log-likelihood of ``model_`` on the fitted rows.
    gamma_gamma_log_likelihood_ : float or None
    n_customers_ : int
        Rows with a purchase the model was fitted on.
    cutoff_ : pandas.Timestamp or None
        The ``cutoff`` of the fitted rows when the frame has that column.

    Notes
    -----
    See :func:`summary_from_features` for how feature columns become
    frequency, recency, T and mean repeat value. Rows without a purchase
    before the cutoff are ignored by ``fit`` and predicted as NaN. The model
    holds plain floats, so it pickles and can be applied at scoring time to
    feature rows of a later cutoff (each row's own history decides).

    Examples
    --------
    >>> from repurchase_ml import build_features, make_event_log
    >>> events, _ = make_event_log(300, "2023-01-01", "2024-01-01", random_state=0)
    >>> feats = build_features(events, cutoffs=["2023-10-01"])
    >>> model = ClassicModel().fit(feats)
    >>> sorted(model.params_), model.n_customers_ == int((feats["orders_all"] > 0).sum())
    (['a', 'alpha', 'b', 'r'], True)
    >>> pred = model.predict(feats, horizon_days=90)
    >>> list(pred.columns) == list(CLASSIC_COLUMNS), pred.index.equals(feats.index)
    (True, True)
    >>> bought = pred.dropna()
    >>> bool((bought["expected_orders_if_alive"] >= bought["expected_orders"]).all())
    True
    """

    def __init__(self, *, model: str = "bgnbd", period_days: float = 7.0,
                 gamma_gamma: bool = True, min_spend_customers: int = 10) -> None:
        self.model = model
        self.period_days = period_days
        self.gamma_gamma = gamma_gamma
        self.min_spend_customers = min_spend_customers

    def fit(self, X: pd.DataFrame, y: Any = None) -> ClassicModel:
        """Fit on feature rows of one cutoff (``y`` is ignored)."""
        if self.model != "best" and self.model not in CUSTOMER_BASE_MODELS:
            raise ValueError(f"model must be 'best' or one of {sorted(CUSTOMER_BASE_MODELS)}, "
                             f"got {self.model!r}.")
        cutoff = None
        if isinstance(X, pd.DataFrame) and "cutoff" in X.columns:
            cutoffs = pd.unique(X["cutoff"])
            if len(cutoffs) > 1:
                raise ValueError(
                    f"ClassicModel fits rows of one cutoff, got {len(cutoffs)} cutoffs "
                    f"({_format_cutoffs(cutoffs)}); use classic_predictions for a stacked "
                    f"training set, or select one cutoff's rows.")
            cutoff = pd.Timestamp(cutoffs[0]) if len(cutoffs) else None
        summary = summary_from_features(X, period_days=self.period_days).dropna(
            subset=["frequency"])
        if summary.empty:
            raise ValueError("features: no row has a purchase before its cutoff "
                             "(orders_all >= 1); nothing to fit the classic models on.")
        names = list(CUSTOMER_BASE_MODELS) if self.model == "best" else [self.model]
        fits = {name: CUSTOMER_BASE_MODELS[name][1](
            summary["frequency"], summary["recency"], summary["T"]) for name in names}
        self.model_ = max(fits, key=lambda name: fits[name].log_likelihood)
        self.params_ = fits[self.model_].params
        self.log_likelihood_ = fits[self.model_].log_likelihood
        self.log_likelihoods_ = {name: fit.log_likelihood for name, fit in fits.items()}
        self.n_customers_ = len(summary)
        self.cutoff_ = cutoff
        self.gamma_gamma_params_: dict[str, float] | None = None
        self.gamma_gamma_log_likelihood_: float | None = None
        if self.gamma_gamma:
            usable = int(((summary["frequency"] > 0) & (summary["monetary_value"] > 0)).sum())
            if usable < self.min_spend_customers:
                logger.warning("Gamma-Gamma skipped: %d customers with a repeat order and "
                               "positive spend (need %d)", usable, self.min_spend_customers)
            else:
                try:
                    gg = fit_gamma_gamma(summary["frequency"], summary["monetary_value"])
                except ValueError as exc:  # e.g. no finite mean spend: keep the order forecast
                    logger.warning("Gamma-Gamma skipped: %s", exc)
                else:
                    self.gamma_gamma_params_ = gg.params
                    self.gamma_gamma_log_likelihood_ = gg.log_likelihood
        return self

    def predict(self, X: pd.DataFrame, *, horizon_days: float) -> pd.DataFrame:
        """Classic predictions for ``[cutoff, cutoff + horizon_days)`` of each feature row.

        Returns
        -------
        pandas.DataFrame
            :data:`CLASSIC_COLUMNS`, aligned with ``X``: ``probability_alive``,
            ``probability_repurchase`` (P(at least one order in the horizon)),
            ``expected_orders``, ``expected_orders_if_alive`` (expected orders
            divided by P(alive): the "if retained" forecast), ``expected_spend``
            (per order) and ``expected_revenue`` (orders x spend, undiscounted).
            NaN for rows without a purchase, and in the spend columns without
            a Gamma-Gamma fit.
        """
        if not hasattr(self, "params_"):
            raise NotFittedError("ClassicModel is not fitted yet; call fit(features) first.")
        horizon = _check_horizon(horizon_days) / self.period_days
        summary = summary_from_features(X, period_days=self.period_days)
        return predict_summary(self.params_, self.gamma_gamma_params_, summary, horizon=horizon,
                               model=self.model_)


def _format_cutoffs(cutoffs: Any, limit: int = 3) -> str:
    shown = ", ".join(str(pd.Timestamp(c).date()) for c in list(cutoffs)[:limit])
    return shown + (", ..." if len(cutoffs) > limit else "")


def classic_predictions(frame: pd.DataFrame, *, horizon_days: float,
                        model: ClassicModel | None = None, skip_unfittable: bool = False
                        ) -> tuple[pd.DataFrame, dict[pd.Timestamp, ClassicModel]]:
    """Per-row classic predictions for a stacked training set, each from its own cutoff's fit.

    One :class:`ClassicModel` is fitted per cutoff on that cutoff's rows
    (features read only history before the cutoff, so no label leaks in) and
    predicts those rows.

    Parameters
    ----------
    frame : pandas.DataFrame
        Output of ``build_features`` or ``build_training_set`` (needs ``cutoff``).
    horizon_days : float
        Prediction window.
    model : ClassicModel, optional
        Settings to clone for each cutoff (default ``ClassicModel()``).
    skip_unfittable : bool, default False
        When a cutoff cannot be fitted (e.g. no repeat customer yet), leave
        its rows NaN with a warning instead of raising.

    Returns
    -------
    predictions : pandas.DataFrame
        :data:`CLASSIC_COLUMNS` aligned with ``frame``.
    models : dict of pandas.Timestamp to ClassicModel
        The fitted model of each cutoff.

    Examples
    --------
    >>> from repurchase_ml import build_features, make_event_log
    >>> events, _ = make_event_log(300, "2023-01-01", "2024-01-01", random_state=0)
    >>> feats = build_features(events, cutoffs=["2023-08-01", "2023-10-01"])
    >>> pred, models = classic_predictions(feats, horizon_days=30)
    >>> sorted(str(c.date()) for c in models), pred.index.equals(feats.index)
    (['2023-08-01', '2023-10-01'], True)
    """
    if not isinstance(frame, pd.DataFrame) or "cutoff" not in frame.columns:
        raise SchemaError("cutoff", "classic_predictions needs the cutoff of every row",
                          fix="pass the output of build_features or build_training_set")
    _check_horizon(horizon_days)
    template = model if model is not None else ClassicModel()
    out = pd.DataFrame(np.nan, index=frame.index, columns=list(CLASSIC_COLUMNS))
    models: dict[pd.Timestamp, ClassicModel] = {}
    for cutoff, rows in frame.groupby("cutoff", sort=True):
        try:
            fitted = clone(template).fit(rows)
        except ValueError as exc:
            if not skip_unfittable:
                raise ValueError(f"cutoff {pd.Timestamp(cutoff).date()}: {exc}") from exc
            logger.warning("classic models not fitted at cutoff %s (%d rows left NaN): %s",
                           pd.Timestamp(cutoff).date(), len(rows), exc)
            continue
        models[pd.Timestamp(cutoff)] = fitted
        out.loc[rows.index] = fitted.predict(rows, horizon_days=horizon_days).to_numpy()
    return out, models
