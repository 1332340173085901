"""Campaigns: the campaign log, A/B read-outs with intervals, uplift models and their metrics.

:func:`read_campaigns` validates a log of (customer, campaign, treatment/control, sent at);
:func:`campaign_readout` reads each campaign out against its holdout; :class:`UpliftModel`
learns from past randomised campaigns whom an action changes, on the same point-in-time
features as every other model; :mod:`.metrics` judges it (uplift and Qini curves, AUUC,
Qini coefficient, uplift at k). See ``docs/campaigns.md``.
"""

from repurchase_ml.campaigns.log import CAMPAIGN_COLUMNS, GROUPS, read_campaigns
from repurchase_ml.campaigns.metrics import auuc, qini_coefficient, uplift_at_k, uplift_curves
from repurchase_ml.campaigns.readout import (
    CampaignReadout,
    campaign_readout,
    plot_readout,
    readout_html,
    run_readout,
    window_outcomes,
    write_readout,
)
from repurchase_ml.campaigns.uplift import (
    UpliftModel,
    incremental_value,
    uplift_training_set,
    validate_uplift,
)

__all__ = [
    "CAMPAIGN_COLUMNS",
    "GROUPS",
    "CampaignReadout",
    "UpliftModel",
    "auuc",
    "campaign_readout",
    "incremental_value",
    "plot_readout",
    "qini_coefficient",
    "read_campaigns",
    "readout_html",
    "run_readout",
    "uplift_at_k",
    "uplift_curves",
    "uplift_training_set",
    "validate_uplift",
    "window_outcomes",
    "write_readout",
]
