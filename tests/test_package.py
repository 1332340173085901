"""Package-level promises: a light import, a flat public API that resolves."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources

import repurchase_ml


def test_import_pulls_in_neither_mlflow_nor_shap():
    code = (
        "import sys, repurchase_ml; "
        "print(sorted(m for m in ('mlflow', 'shap', 'lightgbm', 'optuna', 'pymc_marketing') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves():
    missing = [name for name in repurchase_ml.__all__ if not hasattr(repurchase_ml, name)]
    assert missing == []
    assert "read_events" in repurchase_ml.__all__


def test_unknown_attribute_is_an_attribute_error():
    try:
        repurchase_ml.no_such_thing  # noqa: B018
    except AttributeError as err:
        assert "no_such_thing" in str(err)
    else:  # pragma: no cover - the test fails here
        raise AssertionError("expected AttributeError")


def test_typed_marker_is_shipped():
    assert resources.files("repurchase_ml").joinpath("py.typed").is_file()
