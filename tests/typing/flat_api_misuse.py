"""Wrong use of the flat API: mypy must flag every line marked ``# mypy: error``.

tests/test_static_checks.py type-checks this file with ``src`` and asserts
that mypy reports exactly the marked lines, so the flat ``rm.X`` names carry
their real signatures (not ``Any``). Not collected by pytest; never run.
"""

from __future__ import annotations

import repurchase_ml as rm

rm.make_event_log("many", "2023-01-01", "2024-01-01", random_state=0)  # mypy: error
rm.propose_cutoffs(horizon_days=30)  # mypy: error
as_text: str = rm.propose_cutoffs(rm.make_event_log(1, "2023-01-01", "2024-01-01",  # mypy: error
                                                    random_state=0)[0], horizon_days=3)
rm.no_such_function()  # mypy: error
rm.ColumnMapping(colums={"customer_id": "id"})  # mypy: error
