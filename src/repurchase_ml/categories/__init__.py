"""Which categories bring customers back, which go together, and what each customer buys next.

* :mod:`~repurchase_ml.categories.paths`: repurchase and retention by first-order
  category, the category -> next-category transition table with lift.
* :mod:`~repurchase_ml.categories.affinity`: categories bought by the same
  customers, and browsed -> bought categories.
* :mod:`~repurchase_ml.categories.next_category`: a ranked list of categories
  not yet bought per customer, from a model trained out of time, with its
  evaluation against popularity and the transition table.

Every function reads only events before its ``as_of`` / cutoff.
"""

from repurchase_ml.categories.affinity import browse_to_buy_affinity, category_affinity
from repurchase_ml.categories.next_category import (
    NextCategoryModel,
    evaluate_next_category,
    next_category_frame,
)
from repurchase_ml.categories.paths import (
    category_orders,
    category_transitions,
    plot_category_transitions,
    plot_first_category_retention,
    repurchase_by_first_category,
)
from repurchase_ml.categories.section import CATEGORY_SECTION_TITLES, category_section_tables

__all__ = [
    "CATEGORY_SECTION_TITLES",
    "category_section_tables",
    "NextCategoryModel",
    "evaluate_next_category",
    "next_category_frame",
    "browse_to_buy_affinity",
    "category_affinity",
    "category_orders",
    "category_transitions",
    "plot_category_transitions",
    "plot_first_category_retention",
    "repurchase_by_first_category",
]
