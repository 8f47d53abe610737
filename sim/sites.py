"""Site files for a demo or a test that runs on the wall clock, whatever the hour.

The example site has real opening hours and counter breaks, so a demo started in the evening
would show a closed service point, and a test taking numbers "now" would see the estimates of a
closed site. `always_open_text` is the same site without [opening_hours] (core.hours: open all
day, every day) and without the counters' plans.
"""
from __future__ import annotations

import re

_HOURS = re.compile(r"^\[opening_hours\]\n(?:(?!\[).*\n)*", re.M)
_PLANS = re.compile(r"^(breaks|hours) = .*\n", re.M)  # counters' plans (and the exceptions' hours)


def always_open_text(text: str) -> str:
    return _PLANS.sub("", _HOURS.sub("", text))
