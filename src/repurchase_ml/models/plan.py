"""The training plan: per task, the cutoffs, rows and positives it will get, checked first.

:func:`plan_training` splits each task's labelled cutoffs out of time (the
same split :func:`repurchase_ml.models.train_models` uses), counts rows,
positives and negatives per split, and compares them with
:class:`TrainingMinimums`. ``train_models`` logs the plan before training and
refuses (or skips) a task below the minimums with a message that says what
would make it possible.

Default minimums, and why
-------------------------
Google Analytics 4 enables its purchase and churn probability models once a
property has at least 1,000 returning users who triggered the condition and
1,000 who did not over a 28-day window. Klaviyo's predictive analytics needs
at least 500 customers who ordered, at least 180 days of order history and
orders in the last 30 days. Scaled to our splits:

- **training** (all training cutoffs together): 1,000 positive and 1,000
  negative rows (GA4's numbers; they are per window, and our training rows
  span several cutoffs, so this is the same order of magnitude, not more);
- **validation and test** (one cutoff each): 500 rows (Klaviyo's 500
  customers with orders) with at least 100 positives and 100 negatives, enough
  for an AUC with a standard error of about 0.03 so that a choice between
  scorers is not noise;
- **history**: 180 days before the test cutoff (Klaviyo). Before anything
  is built, :func:`history_shortfalls` checks the log's length per task:
  that history plus the task's horizon (one full label window after it),
  and for churn its alive window (365 days) instead of the 180 when longer:
  "churn needs >= 455 days of history; the log has 374".

For count and revenue tasks a "positive" is a row with a label above zero.
Small fixtures pass lower ``minimums``; the numbers are settings, not laws.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "TrainingMinimums",
    "DEFAULT_MINIMUMS",
    "TrainingPlanError",
    "TaskPlan",
    "TrainingPlan",
    "plan_training",
    "split_cutoffs",
    "plan_lines",
    "history_needed",
    "history_shortfalls",
    "split_shortfalls",
    "minimums_line",
    "CHURN_ALIVE_DAYS",
    "ON_INSUFFICIENT",
]

logger = logging.getLogger(__name__)

#: alive window of the default churn population (days with an order before the cutoff)
CHURN_ALIVE_DAYS = 365
SPLITS = ("train", "valid", "test")
#: what ``train_models`` does with a task below the minimums (the first is the default)
ON_INSUFFICIENT = ("skip", "raise", "warn")


class TrainingPlanError(ValueError):
    """A task cannot be trained as planned: names the task, what it has, what it needs, the fix."""


@dataclass(frozen=True)
class TrainingMinimums:
    """Least data a task needs before it is trained (see the module notes for the defaults).

    Attributes
    ----------
    train_positives, train_negatives : int
        Rows with a positive (label > 0) / zero label over all training cutoffs.
    eval_rows : int
        Labelled rows at the validation cutoff and at the test cutoff, each.
    eval_positives, eval_negatives : int
        Positive / zero labels at the validation cutoff and at the test cutoff, each.
    history_days : int
        Days of order history before the test cutoff (the oldest customer's
        tenure there); needs the ``days_since_first_purchase`` feature.

    Examples
    --------
    >>> TrainingMinimums().train_positives, TrainingMinimums(eval_rows=50).eval_rows
    (1000, 50)
    """

    train_positives: int = 1000
    train_negatives: int = 1000
    eval_rows: int = 500
    eval_positives: int = 100
    eval_negatives: int = 100
    history_days: int = 180

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise ValueError(f"minimums.{f.name} must be a non-negative int, got {value!r}.")


DEFAULT_MINIMUMS = TrainingMinimums()


def split_cutoffs(
    labelled: pd.Series, *, task: str, horizon: int, valid_cutoff: Any = None,
    test_cutoff: Any = None, strict_validation: bool = True,
) -> dict[str, Any]:
    """Out-of-time split of a task's labelled cutoffs into train, validation and test.

    - **test**: the latest labelled cutoff (or ``test_cutoff``);
    - **valid**: the latest cutoff whose label window ends by the test cutoff
      (``valid + horizon <= test``), or ``valid_cutoff``;
    - **train**: every earlier cutoff whose label window ends by the
      validation cutoff (by the test cutoff with ``strict_validation=False``).

    Examples
    --------
    >>> cuts = pd.Series(pd.date_range("2024-01-01", periods=5, freq="MS"))
    >>> s = split_cutoffs(cuts, task="repurchase", horizon=30)
    >>> [str(c.date()) for c in s["train"]], str(s["valid"].date()), str(s["test"].date())
    (['2024-01-01', '2024-02-01', '2024-03-01'], '2024-04-01', '2024-05-01')
    """
    cutoffs = sorted(pd.to_datetime(pd.Series(labelled).unique()))
    if len(cutoffs) < 3:
        raise ValueError(
            f"task {task!r}: out-of-time training needs at least 3 labelled cutoffs "
            f"(train, validation, test), got {len(cutoffs)}. Build the training set with more "
            "cutoffs (see propose_cutoffs)."
        )
    h = pd.Timedelta(days=horizon)
    test = pd.Timestamp(test_cutoff) if test_cutoff is not None else cutoffs[-1]
    if test not in cutoffs:
        raise ValueError(f"test_cutoff {test} has no labelled rows for task {task!r}; "
                         f"labelled cutoffs are {[str(c.date()) for c in cutoffs]}.")
    if valid_cutoff is not None:
        valid = pd.Timestamp(valid_cutoff)
        if valid not in cutoffs:
            raise ValueError(f"valid_cutoff {valid} has no labelled rows for task {task!r}.")
        if valid + h > test:
            raise ValueError(
                f"valid_cutoff {valid.date()} + the {horizon}-day {task!r} horizon runs past "
                f"test_cutoff {test.date()}: validation labels would see the test period. Pick "
                f"a validation cutoff on or before {(test - h).date()}."
            )
    else:
        candidates = [c for c in cutoffs if c + h <= test]
        if not candidates:
            raise ValueError(
                f"task {task!r}: no cutoff's {horizon}-day label window ends by the test cutoff "
                f"{test.date()}; add earlier cutoffs or shorten the horizon."
            )
        valid = candidates[-1]
    label_end = valid if strict_validation else test
    train = [c for c in cutoffs if c < valid and c + h <= label_end]
    if not train:
        raise ValueError(
            f"task {task!r}: no training cutoff before {valid.date()} has its {horizon}-day "
            f"label window ending by {label_end.date()}; add cutoffs on or before "
            f"{(label_end - h).date()}"
            + (" or pass strict_validation=False." if strict_validation else ".")
        )
    return {"train": train, "valid": valid, "test": test}


@dataclass
class TaskPlan:
    """What one task will be trained on, and whether that is enough.

    Attributes
    ----------
    task : str
    horizon : int
    split : dict
        ``{"train": [cutoffs], "valid": Timestamp, "test": Timestamp}``.
    rows, positives, negatives : dict of split to int
    mean_label : dict of split to float
        Positive rate (classification) or mean label (counts, revenue).
    history_days : float or None
        Order history before the test cutoff (NaN-safe max tenure), if known.
    problems : list of str
        Shortfalls against the minimums and the churn alive-window check;
        empty when the task may train.
    notes : list of str
        Facts worth seeing that are not refusals (e.g. unused cutoffs).
    """

    task: str
    horizon: int
    split: dict[str, Any]
    rows: dict[str, int]
    positives: dict[str, int]
    negatives: dict[str, int]
    mean_label: dict[str, float]
    history_days: float | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing stops the task from training."""
        return not self.problems

    def message(self) -> str:
        """The refusal in plain words (empty when ``ok``)."""
        if self.ok:
            return ""
        return f"task {self.task!r} cannot be trained as planned: " + " ".join(self.problems)


@dataclass
class TrainingPlan:
    """Per task, the cutoffs, rows and positives training will use; see :func:`plan_training`."""

    tasks: dict[str, TaskPlan]
    minimums: TrainingMinimums

    def to_frame(self) -> pd.DataFrame:
        """One row per (task, split): cutoffs, rows, positives, negatives, mean label, status."""
        out = []
        for name, plan in self.tasks.items():
            for split in SPLITS:
                cuts = plan.split[split] if split == "train" else [plan.split[split]]
                out.append({
                    "task": name, "split": split, "n_cutoffs": len(cuts),
                    "first_cutoff": min(cuts).date(), "last_cutoff": max(cuts).date(),
                    "rows": plan.rows[split], "positives": plan.positives[split],
                    "negatives": plan.negatives[split], "mean_label": plan.mean_label[split],
                    "status": "ok" if plan.ok else "refused",
                })
        return pd.DataFrame(out)

    def insufficient(self) -> dict[str, str]:
        """Task -> refusal message, for tasks below the minimums."""
        return {name: plan.message() for name, plan in self.tasks.items() if not plan.ok}

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: the minimums and, per task, cutoffs, counts, status and message.

        Examples
        --------
        >>> cuts = pd.date_range("2024-01-01", periods=3, freq="MS")
        >>> ts = pd.DataFrame({"customer_id": np.tile([1, 2], 3), "cutoff": np.repeat(cuts, 2),
        ...                    "label_repurchase": [0.0, 1.0] * 3})
        >>> d = plan_training(ts, tasks=["repurchase"], horizons={"repurchase": 20}).to_dict()
        >>> d["tasks"]["repurchase"]["cutoffs"], d["tasks"]["repurchase"]["status"]
        ({'train': ['2024-01-01'], 'valid': '2024-02-01', 'test': '2024-03-01'}, 'refused')
        """
        tasks = {}
        for name, plan in self.tasks.items():
            tasks[name] = {
                "horizon": plan.horizon, "status": "ok" if plan.ok else "refused",
                "cutoffs": {"train": [str(c.date()) for c in plan.split["train"]],
                            "valid": str(plan.split["valid"].date()),
                            "test": str(plan.split["test"].date())},
                "rows": dict(plan.rows), "positives": dict(plan.positives),
                "negatives": dict(plan.negatives),
                "mean_label": {k: (None if v != v else float(v))
                               for k, v in plan.mean_label.items()},
                "history_days": plan.history_days, "message": plan.message(),
                "notes": list(plan.notes),
            }
        return {"minimums": dataclasses.asdict(self.minimums), "tasks": tasks}

    def __str__(self) -> str:
        lines = ["training plan (per task: cutoffs, rows, positives):", *plan_lines(self)]
        for plan in self.tasks.values():
            lines += [f"  note on {plan.task}: {n}" for n in plan.notes]
        return "\n".join(lines)


def plan_lines(plan: TrainingPlan | Mapping[str, Any]) -> list[str]:
    """The plan as console lines: per task, its cutoffs, rows and positives, or its refusal.

    ``plan`` is a :class:`TrainingPlan` or its :meth:`TrainingPlan.to_dict`
    (as a retrain result carries it).

    Examples
    --------
    >>> cuts = pd.date_range("2024-01-01", periods=3, freq="MS")
    >>> ts = pd.DataFrame({"customer_id": np.tile([1, 2], 3), "cutoff": np.repeat(cuts, 2),
    ...                    "label_repurchase": [0.0, 1.0] * 3})
    >>> low = TrainingMinimums(1, 1, 2, 1, 1, 0)
    >>> plan_lines(plan_training(ts, tasks=["repurchase"], horizons={"repurchase": 20},
    ...                          minimums=low))
    ['repurchase (20 d): train 1 cutoff 2024-01-01: 2 rows, 1 positive; valid 2024-02-01: 2 rows, 1 positive; test 2024-03-01: 2 rows, 1 positive']
    >>> plan_lines(plan_training(ts, tasks=["repurchase"], horizons={"repurchase": 20}))[1][:60]
    '  refused: train has 1 positives, needs 1000; train has 1 ne'
    """
    data = plan.to_dict() if isinstance(plan, TrainingPlan) else plan

    def counts(task: Mapping[str, Any], split: str) -> str:
        rows, pos = task["rows"][split], task["positives"][split]
        return (f"{rows:,} row{'s' * (rows != 1)}, {pos:,} "
                f"positive{'s' * (pos != 1)}")

    lines = []
    for name, task in (data.get("tasks") or {}).items():
        train = task["cutoffs"]["train"]
        span = train[0] if len(train) == 1 else f"{train[0]}..{train[-1]}"
        lines.append(
            f"{name} ({task['horizon']} d): train {len(train)} cutoff{'s' * (len(train) != 1)} "
            f"{span}: {counts(task, 'train')}; valid {task['cutoffs']['valid']}: "
            f"{counts(task, 'valid')}; test {task['cutoffs']['test']}: {counts(task, 'test')}")
        if task["status"] != "ok":
            lines.append("  refused: " + str(task["message"]).removeprefix(
                f"task {name!r} cannot be trained as planned: "))
    return lines


def _history_days(rows: pd.DataFrame) -> float | None:
    if "days_since_first_purchase" not in rows.columns or rows.empty:
        return None
    value = pd.to_numeric(rows["days_since_first_purchase"], errors="coerce").max()
    return float(value) if np.isfinite(value) else None


def _fixes(task: str, horizon: int) -> str:
    return (f"Fix: a longer order history, a shorter {task!r} horizon (now {horizon} days), "
            "more or denser cutoffs (e.g. freq='W-MON' in propose_cutoffs; cutoffs.n, "
            "cutoffs.freq in the job config), or lower minimums=TrainingMinimums(...) "
            "(training.minimums in the job config) if you accept a noisier model.")


def _shortfalls(plan: TaskPlan, minimums: TrainingMinimums) -> list[str]:
    needs = [("train", "positives", minimums.train_positives),
             ("train", "negatives", minimums.train_negatives)]
    for split in ("valid", "test"):
        needs += [(split, "rows", minimums.eval_rows), (split, "positives", minimums.eval_positives),
                  (split, "negatives", minimums.eval_negatives)]
    short = []
    for split, what, need in needs:
        have = getattr(plan, what)[split]
        if have < need:
            short.append(f"{split} has {have} {what}, needs {need}")
    if plan.history_days is not None and plan.history_days < minimums.history_days:
        short.append(f"the order history before the test cutoff is {plan.history_days:.0f} days, "
                     f"needs {minimums.history_days}")
    if not short:
        return []
    return ["; ".join(short) + ". " + _fixes(plan.task, plan.horizon)]


def _suggest_alive_days(history: float, horizon: int) -> int | None:
    """Longest whole-month alive window shorter than the history, or None when none fits."""
    days = int(history // 30) * 30
    if days >= history:
        days -= 30
    return days if days >= max(30, horizon) else None


def _churn_problem(frame: pd.DataFrame, label: pd.Series, split: dict[str, Any], *,
                   horizon: int, alive_days: int) -> str | None:
    """Refusal when churn's alive window admits every buyer (churn = 1 - repurchase)."""
    cutoffs = [*split["train"], split["valid"], split["test"]]
    cut = pd.to_datetime(frame["cutoff"])
    first = frame.loc[cut == min(cutoffs)]
    history = _history_days(first)
    if "orders_all" in frame.columns:
        buyers = frame["orders_all"].fillna(0) > 0
        used = cut.isin(cutoffs)
        every_buyer_alive = bool((label.notna()[used & buyers]).all())
    else:
        every_buyer_alive = history is not None and history < alive_days
    if not every_buyer_alive:
        return None
    where = ("" if history is None
             else f" the log holds only {history:.0f} days before the earliest cutoff "
                  f"{min(cutoffs).date()},")
    hint = None if history is None else _suggest_alive_days(history, horizon)
    fix = (f"rebuild the training set with build_training_set(..., alive_days={hint}) "
           f"(training.alive_days: {hint} in the job config) so that churn means 'ordered "
           "recently, then stopped'" if hint
           else "use a longer log or later cutoffs")
    return (f"churn's alive window is {alive_days} days but{where} so every buyer counts as "
            f"alive and churn would be exactly 1 - P(order in {horizon} days), a repurchase "
            f"model under another name. Fix: {fix}, or train 'repurchase' instead of 'churn'.")


def plan_training(
    training_set: pd.DataFrame,
    *,
    tasks: Sequence[str],
    horizons: Mapping[str, int],
    minimums: TrainingMinimums | None = None,
    valid_cutoff: Any = None,
    test_cutoff: Any = None,
    strict_validation: bool = True,
    alive_days: int | None = None,
) -> TrainingPlan:
    """Plan out-of-time training: per task, the split and its rows, positives and shortfalls.

    Parameters
    ----------
    training_set : pandas.DataFrame
        Output of ``build_training_set`` (``customer_id``, ``cutoff``,
        features, ``label_<task>``).
    tasks : sequence of str
    horizons : mapping of task to days
        Every task's label window.
    minimums : TrainingMinimums, optional
        Default :data:`DEFAULT_MINIMUMS` (module notes say why).
    valid_cutoff, test_cutoff, strict_validation
        As for :func:`split_cutoffs`.
    alive_days : int, optional
        The churn population's alive window the training set was built with;
        default ``training_set.attrs["alive_days"]`` or 365.

    Returns
    -------
    TrainingPlan
        ``str(plan)`` and ``plan.to_frame()`` show it; ``plan.insufficient()``
        maps refused tasks to their messages.

    Examples
    --------
    >>> cuts = pd.date_range("2024-01-01", periods=4, freq="MS")
    >>> ts = pd.DataFrame({"customer_id": np.tile(np.arange(10), 4),
    ...                    "cutoff": np.repeat(cuts, 10),
    ...                    "label_repurchase": np.tile([0.0, 1.0], 20)})
    >>> plan = plan_training(ts, tasks=["repurchase"], horizons={"repurchase": 30})
    >>> plan.tasks["repurchase"].positives
    {'train': 5, 'valid': 5, 'test': 5}
    >>> print(plan.insufficient()["repurchase"][:80])
    task 'repurchase' cannot be trained as planned: train has 5 positives, needs 100
    """
    minimums = DEFAULT_MINIMUMS if minimums is None else minimums
    if not isinstance(minimums, TrainingMinimums):
        raise TypeError("minimums must be a TrainingMinimums (e.g. TrainingMinimums("
                        f"train_positives=200)) or None, got {type(minimums).__name__}.")
    alive = int(alive_days if alive_days is not None
                else training_set.attrs.get("alive_days", CHURN_ALIVE_DAYS))
    cut = pd.to_datetime(training_set["cutoff"])
    plans: dict[str, TaskPlan] = {}
    for task in tasks:
        label = training_set[f"label_{task}"]
        labelled = label.notna()
        horizon = int(horizons[task])
        split = split_cutoffs(cut[labelled], task=task, horizon=horizon,
                              valid_cutoff=valid_cutoff, test_cutoff=test_cutoff,
                              strict_validation=strict_validation)
        rows, pos, neg, mean = {}, {}, {}, {}
        for name in SPLITS:
            chosen = cut.isin(split[name]) if name == "train" else cut == split[name]
            y = label[labelled & chosen].to_numpy(dtype=float)
            rows[name], pos[name] = len(y), int((y > 0).sum())
            neg[name] = int((y == 0).sum())
            mean[name] = float(y.mean()) if len(y) else float("nan")
        plan = TaskPlan(task=task, horizon=horizon, split=split, rows=rows, positives=pos,
                        negatives=neg, mean_label=mean,
                        history_days=_history_days(training_set.loc[cut == split["test"]]))
        unused = sorted(set(cut[labelled]) - {*split["train"], split["valid"], split["test"]})
        if unused:
            plan.notes.append(
                f"{len(unused)} labelled cutoff(s) are not used ({', '.join(str(c.date()) for c in unused[:4])}"
                f"{'...' if len(unused) > 4 else ''}): their {horizon}-day labels would overlap "
                "the validation or test period.")
        months = sorted({c.month for c in split["train"]})
        plan.notes.append(
            f"trains on {len(split['train'])} cutoff(s) from {min(split['train']).date()} to "
            f"{max(split['train']).date()} (months {months}), validates at "
            f"{split['valid'].date()}, tests at {split['test'].date()}.")
        plan.problems += _shortfalls(plan, minimums)
        if task == "churn":
            problem = _churn_problem(training_set, label, split, horizon=horizon, alive_days=alive)
            if problem:
                plan.problems.append(problem)
        plans[task] = plan
    return TrainingPlan(tasks=plans, minimums=minimums)


def history_needed(task: str, horizon: int, *, minimums: TrainingMinimums | None = None,
                   alive_days: int | None = None) -> tuple[int, str]:
    """Days of log a task needs, and why: history before a cutoff plus one label window.

    Examples
    --------
    >>> history_needed("churn", 90)
    (455, '365-day alive window + 90-day horizon')
    >>> history_needed("repurchase", 30)
    (210, '180 days of history + 30-day horizon')
    """
    minimums = DEFAULT_MINIMUMS if minimums is None else minimums
    alive = int(alive_days if alive_days is not None else CHURN_ALIVE_DAYS)
    if task == "churn" and alive > minimums.history_days:
        return alive + int(horizon), f"{alive}-day alive window + {int(horizon)}-day horizon"
    return (minimums.history_days + int(horizon),
            f"{minimums.history_days} days of history + {int(horizon)}-day horizon")


def history_shortfalls(span_days: float, *, tasks: Sequence[str], horizons: Mapping[str, int],
                       minimums: TrainingMinimums | None = None,
                       alive_days: int | None = None) -> dict[str, str]:
    """Tasks the log is too short for, with the refusal; checked before anything is built.

    ``span_days`` is the log's length (first to last event).

    Examples
    --------
    >>> history_shortfalls(374, tasks=["churn", "repurchase"],
    ...                    horizons={"churn": 90, "repurchase": 30})["churn"][:52]
    'churn needs >= 455 days of history (365-day alive wi'
    """
    out = {}
    for task in tasks:
        need, why = history_needed(task, horizons[task], minimums=minimums, alive_days=alive_days)
        if span_days < need:
            alive = (" or a shorter alive window (alive_days; training.alive_days in the "
                     "job config)" if task == "churn" else "")
            out[task] = (f"{task} needs >= {need} days of history ({why}); the log has "
                         f"{span_days:.0f}. Fix: a longer log, a shorter {task!r} horizon "
                         f"(horizons.{task}){alive}, or a lower minimums.history_days "
                         "(training.minimums.history_days) if you accept a noisier model.")
    return out


def split_shortfalls(task_cutoffs: Mapping[str, Sequence[Any]], *,
                     horizons: Mapping[str, int]) -> dict[str, str]:
    """Tasks whose proposed cutoffs allow no out-of-time split, with the refusal and the fix.

    Checked on the cutoffs alone, before any feature is built: a task needs a
    test cutoff, a validation cutoff whose label window ends by it and a
    training cutoff whose window ends by the validation cutoff
    (:func:`split_cutoffs`), so its cutoffs must span at least two horizons.

    Examples
    --------
    >>> cuts = list(pd.date_range("2023-01-01", periods=12, freq="MS"))
    >>> short = split_shortfalls({"ltv": cuts, "churn": cuts}, horizons={"ltv": 365, "churn": 90})
    >>> sorted(short), short["ltv"][:60]
    (['ltv'], 'ltv: its 12 cutoffs (2023-01-01 to 2023-12-01) span 334 days')
    """
    out = {}
    for task, found in task_cutoffs.items():
        cuts = sorted(pd.to_datetime(list(found)))
        horizon = int(horizons[task])
        try:
            split_cutoffs(pd.Series(cuts), task=task, horizon=horizon)
        except ValueError:
            span = (cuts[-1] - cuts[0]).days if cuts else 0
            step = max(span / max(len(cuts) - 1, 1), 1.0)
            need = int(np.ceil(2 * horizon / step)) + 1
            first_last = (f" ({cuts[0].date()} to {cuts[-1].date()})" if cuts else "")
            out[task] = (
                f"{task}: its {len(cuts)} cutoffs{first_last} span {span} days; an out-of-time "
                f"split with a {horizon}-day horizon needs >= {2 * horizon} (train, then "
                f"validation a horizon later, then test a horizon after that). Fix: more "
                f"cutoffs (cutoffs.n >= {need} at this spacing) on a log long enough for them, "
                f"or a shorter horizon (horizons.{task}).")
    return out


def minimums_line(minimums: TrainingMinimums | None = None) -> str:
    """The minimums in one line, for a console (the module notes say why they are these).

    Examples
    --------
    >>> minimums_line()[:70]
    'minimum data per task (GA4/Klaviyo-style): training >= 1,000 positives'
    """
    m = DEFAULT_MINIMUMS if minimums is None else minimums
    return (f"minimum data per task (GA4/Klaviyo-style): training >= {m.train_positives:,} "
            f"positives and >= {m.train_negatives:,} negatives; validation and test >= "
            f"{m.eval_rows:,} rows, >= {m.eval_positives:,} positives and >= {m.eval_negatives:,} "
            f"negatives; >= "
            f"{m.history_days} days of history plus the horizon (churn: its alive window)")
