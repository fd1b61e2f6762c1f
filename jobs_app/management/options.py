"""Argparse types shared by every option of every jobs_app command.

Each refuses what would otherwise end in a traceback later (NaN, infinities, numbers past
what a datetime or a database integer holds, negatives, text no database column can hold)
with a usage error that says what is accepted: Django turns `ArgumentTypeError` into
`CommandError` (exit status 2 with the usage line on the command line).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from datetime import timedelta

from jobs_app.payload import safe_text, storable
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


@dataclass(frozen=True)
class Text:
    """A name or label of at most `max_length` characters that can be stored: bytes the terminal's
    encoding cannot decode (Python makes lone surrogates of them) and NUL characters are refused."""

    max_length: int = 200

    def __call__(self, raw: str) -> str:
        if len(raw) > self.max_length or not storable(raw):
            raise argparse.ArgumentTypeError(
                f"expected text of at most {self.max_length} characters, valid UTF-8 and without NUL, "
                f"got {safe_text(raw)[:50]!r}"
            )
        return raw


SECONDS = Number()
COUNT = Number(integer=True, maximum=MAX_INTEGER)
POSITIVE_COUNT = Number(integer=True, minimum=1, maximum=MAX_INTEGER)
AGE = Duration()
# Jobs a second (retry_failed --group --rate); above 0 is checked where the rate is used.
RATE = Number(maximum=1_000_000)
TEXT = Text()
