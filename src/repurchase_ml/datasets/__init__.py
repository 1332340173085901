"""Event logs to work with: a synthetic Tmall-style generator and loaders for public formats."""

from __future__ import annotations

from repurchase_ml.datasets.synthetic import make_event_log

__all__ = ["make_event_log"]
