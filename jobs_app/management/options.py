"""Argparse types shared by every command's numeric and duration options.

Each refuses what would otherwise end in a traceback later (NaN, infinities, numbers past
what a datetime or a database integer holds, negatives) with a usage error that says what
is accepted: Django turns `ArgumentTypeError` into `CommandError` (exit status 2 with the
usage line on the command line).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from datetime import timedelta

from jobs_app.policy import MAX_SECONDS
from jobs_app.retention import parse_duration

# The largest whole number an option takes: what a database integer column holds.
MAX_INTEGER = 2**31 - 1


@dataclass(frozen=True)
class Number:
    """A finite number from `minimum` to `maximum`; whole numbers only with `integer=True`."""

    minimum: float = 0
    maximum: float = MAX_SECONDS
    integer: bool = False

    def __call__(self, raw: str) -> float | int:
        kind = "a whole number" if self.integer else "a number"
        expected = f"{kind} from {int(self.minimum)} to {int(self.maximum)}"
        try:
            value = int(raw) if self.integer else float(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {raw!r}") from None
        if (isinstance(value, float) and not math.isfinite(value)) or not self.minimum <= value <= self.maximum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {raw!r}")
        return value


@dataclass(frozen=True)
class Duration:
    """An age such as 14d, 12h, 30m or 45s, at most `maximum` seconds (100 years)."""

    maximum: float = MAX_SECONDS

    def __call__(self, raw: str) -> timedelta:
        try:
            value = parse_duration(raw)
        except (ValueError, OverflowError):  # 999999999999d overflows a timedelta
            value = None
        if value is None or value.total_seconds() > self.maximum:
            raise argparse.ArgumentTypeError(
                f"expected a number and a unit (d, h, m or s) of at most {self.maximum / 86400:.0f} days, "
                f"like 14d, 12h, 30m or 45s, got {raw!r}"
            )
        return value


SECONDS = Number()
COUNT = Number(integer=True, maximum=MAX_INTEGER)
POSITIVE_COUNT = Number(integer=True, minimum=1, maximum=MAX_INTEGER)
AGE = Duration()
