"""Suite-wide hygiene: what one test changes in process-wide state is undone after it."""

from __future__ import annotations

import logging

import pytest

# files that mypy checks (tests/test_static_checks.py); importing them would run misuse on purpose
collect_ignore = ["typing"]


@pytest.fixture(autouse=True)
def _restore_library_logger():
    """The CLI points the library's logger at its console and stops propagation (as a
    command line should); in-process CLI tests would otherwise hide later tests' log
    records from ``caplog``."""
    logger = logging.getLogger("repurchase_ml")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved
