"""Messages in English and Chinese, and numbers and money as a reader expects them.

Every text a reader of the report, the analytics page or the radar sees comes
from one catalogue per language, ``en.yaml`` and ``zh.yaml`` beside this file:
nested YAML mappings whose leaves are :meth:`str.format` templates, looked up
by their dotted path (``report.section.radar``). Both catalogues have the same
keys and the same placeholders (a test checks it). Feature descriptions are
the exception: English ones live with the features
(:func:`repurchase_ml.features.feature_info`), the Chinese ones under
``feature`` in ``zh.yaml``, keyed by the feature's template name
(``orders_{w}d``).

Codes stay codes: a segment (``"at risk"``), lifecycle stage (``"at_risk"``)
or action id (``"vip_care"``) is what files, rules and filters hold;
:func:`label` turns it into the reader's words.

Examples
--------
>>> text("report.radar.top", "en", shown=25, total="1,200")
'Top 25 of 1,200 customers'
>>> label("segment", "at risk", "zh")
'流失风险用户'
>>> Formatter("zh", currency="¥", number_style="wan").money(1234567.8)
'¥123.5万'
"""

from __future__ import annotations

import functools
import math
import string
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["LANGUAGES", "NUMBER_STYLES", "Formatter", "catalogue", "label", "text"]

#: languages with a catalogue (``<language>.yaml`` beside this module)
LANGUAGES: tuple[str, ...] = ("en", "zh")
#: ``grouped``: 1,234,567; ``wan``: amounts from ten thousand up in 万 / 亿 (Chinese usage)
NUMBER_STYLES: tuple[str, ...] = ("grouped", "wan")


def check_language(language: Any, *, argument: str = "language") -> str:
    """``language`` if a catalogue exists for it, else a ValueError naming the choices."""
    if language not in LANGUAGES:
        raise ValueError(f"{argument}: expected one of {', '.join(LANGUAGES)}, got {language!r}.")
    return str(language)


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = str(value)
    return out


@functools.cache
def catalogue(language: str) -> Mapping[str, str]:
    """Every message of ``language``: dotted key -> template (read once, then cached)."""
    import yaml

    check_language(language)
    raw = resources.files(__name__).joinpath(f"{language}.yaml").read_text(encoding="utf-8")
    return _flatten(yaml.safe_load(raw))


def placeholders(template: str) -> set[str]:
    """Names of the ``{fields}`` a template fills (format specs ignored)."""
    return {name.split(".")[0].split("[")[0]
            for _, name, _, _ in string.Formatter().parse(template) if name}


def text(key: str, language: str = "en", /, **values: Any) -> str:
    """The message ``key`` in ``language``, filled with ``values``."""
    messages = catalogue(language)
    if key not in messages:
        raise KeyError(f"no message {key!r} in the {language!r} catalogue "
                       f"(repurchase_ml/i18n/{language}.yaml).")
    return messages[key].format(**values)


def has(key: str, language: str = "en") -> bool:
    """Whether the catalogue of ``language`` holds ``key``."""
    return key in catalogue(language)


def label(kind: str, code: Any, language: str = "en") -> str:
    """The reader's name of a code (``segment``, ``lifecycle``, ``action``, ``task`` ...).

    A code the catalogue does not know (a custom segment rule, an action of
    the user's own table) is shown as it is.
    """
    return catalogue(language).get(f"{kind}.{code}", str(code))


@dataclass(frozen=True)
class Formatter:
    """Numbers, money, shares and dates for one language and currency.

    Parameters
    ----------
    language : {"en", "zh"}
    currency : str
        Symbol put before money amounts (``"¥"``, ``"$"``, ``"€"``); empty
        for none.
    number_style : {"grouped", "wan"}
        ``grouped`` writes 1,234,567; ``wan`` writes amounts of ten thousand
        and more in 万 and 亿, as Chinese readers count.

    Examples
    --------
    >>> f = Formatter("en", currency="$")
    >>> f.money(1234.5), f.money(12.345), f.share(0.1234), f.count(1234567)
    ('$1,234', '$12.35', '12.3%', '1,234,567')
    >>> Formatter("zh", number_style="wan").count(25000)
    '2.5万'
    """

    language: str = "en"
    currency: str = ""
    number_style: str = "grouped"

    def __post_init__(self) -> None:
        check_language(self.language)
        if self.number_style not in NUMBER_STYLES:
            raise ValueError(f"number_style: expected one of {', '.join(NUMBER_STYLES)}, "
                             f"got {self.number_style!r}.")
        if not isinstance(self.currency, str) or len(self.currency) > 5:
            raise ValueError(f"currency: expected a short symbol such as '¥' or '$', "
                             f"got {self.currency!r}.")

    def text(self, key: str, /, **values: Any) -> str:
        """The message ``key`` in this formatter's language."""
        return text(key, self.language, **values)

    def label(self, kind: str, code: Any) -> str:
        """The reader's name of a code (see :func:`label`)."""
        return label(kind, code, self.language)

    def _large(self, value: float) -> str | None:
        if self.number_style != "wan" or abs(value) < 1e4:
            return None
        unit, scale = ("亿", 1e8) if abs(value) >= 1e8 else ("万", 1e4)
        return f"{value / scale:,.1f}{unit}"

    def count(self, value: float) -> str:
        """A whole number: 1,234 (or 1.2万)."""
        if not math.isfinite(value):
            return ""
        return self._large(value) or f"{value:,.0f}"

    def number(self, value: float) -> str:
        """A measurement: four significant digits below 10,000, whole numbers above."""
        if not math.isfinite(value):
            return ""
        if abs(value) < 1e4:
            return f"{value:,.4g}"
        return self._large(value) or f"{value:,.0f}"

    def money(self, value: float) -> str:
        """An amount: cents below 100, whole units above; the currency symbol first."""
        if not math.isfinite(value):
            return ""
        body = self._large(value) or (f"{abs(value):,.0f}" if abs(value) >= 100
                                      else f"{abs(value):,.2f}")
        body = body.lstrip("-")
        return f"{'-' if value < 0 else ''}{self.currency}{body}"

    def share(self, value: float, digits: int = 1) -> str:
        """A proportion as a percentage."""
        return f"{value:.{digits}%}" if math.isfinite(value) else ""

    def date(self, value: Any) -> str:
        """A day (``2024-06-01``), with the time when it is not midnight."""
        import pandas as pd

        ts = pd.Timestamp(value)
        return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.strftime("%Y-%m-%d %H:%M")
