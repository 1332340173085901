"""Event logs to work with: a synthetic Tmall-style generator and loaders for public formats."""

from __future__ import annotations

from repurchase_ml.datasets.campaigns import CampaignDesign, run_campaigns
from repurchase_ml.datasets.loaders import (
    find_data_file,
    load_cdnow,
    load_cdnow_sample,
    load_online_retail,
    load_taobao,
)
from repurchase_ml.datasets.synthetic import RetailProfile, make_event_log, write_event_log_files

__all__ = [
    "CampaignDesign",
    "run_campaigns",
    "find_data_file",
    "load_cdnow",
    "load_cdnow_sample",
    "load_online_retail",
    "load_taobao",
    "make_event_log",
    "RetailProfile",
    "write_event_log_files",
]
