"""Circuit breakers shared by every worker: `@job_handler(..., breaker="whatsapp")`.

A breaker's state lives in one Redis hash, `jobs_app:breaker:<name>`, changed only by one
Lua script, so every worker process on every machine sees and moves the same breaker atomically.

- closed: jobs run; `failure_threshold` consecutive failures open it.
- open: jobs are put back, unrun and without spending an attempt, until `recovery_timeout`
  seconds after it opened; then it is half-open.
- half-open: `success_threshold` jobs per recovery window go through, the others are put back;
  one failure opens it again, `success_threshold` successes close it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from .conf import BreakerSettings, app_settings
from .registry import all_handlers
from .transport import control_connection

logger = logging.getLogger("jobs_app")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STATES = (CLOSED, OPEN, HALF_OPEN)
KEY_PREFIX = "jobs_app:breaker:"

# KEYS[1]: the breaker's hash. ARGV: operation, now (epoch seconds), failure_threshold,
# recovery_timeout, success_threshold. Returns {state before, state after, allowed (1/0), retry_at}.
_SCRIPT = """
local key, op, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
local failure_threshold, recovery, success_threshold = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local h = redis.call('HGETALL', key)
local b = {state = 'closed', failures = 0, successes = 0, permits = 0, opened_at = 0, window_at = 0, deferred = 0}
for i = 1, #h, 2 do b[h[i]] = h[i + 1] end
for _, field in ipairs({'failures', 'successes', 'permits', 'opened_at', 'window_at', 'deferred'}) do
  b[field] = tonumber(b[field])
end
local before, allowed, retry_at = b.state, 1, 0
local function open()
  b.state, b.opened_at, b.successes, b.permits = 'open', now, 0, 0
end
local function close()
  b.state, b.failures, b.successes, b.permits = 'closed', 0, 0, 0
end
if op == 'acquire' then
  if b.state == 'open' and now >= b.opened_at + recovery then
    b.state, b.window_at, b.permits, b.successes = 'half_open', now, 0, 0
  end
  if b.state == 'half_open' and now >= b.window_at + recovery then
    b.window_at, b.permits = now, 0
  end
  if b.state == 'open' then
    allowed, retry_at = 0, b.opened_at + recovery
  elseif b.state == 'half_open' then
    if b.permits < success_threshold then
      b.permits = b.permits + 1
    else
      allowed, retry_at = 0, b.window_at + recovery
    end
  end
  if allowed == 0 then b.deferred = b.deferred + 1 end
elseif op == 'success' then
  if b.state == 'closed' then
    b.failures = 0
  elseif b.state == 'half_open' then
    b.successes = b.successes + 1
    if b.successes >= success_threshold then close() end
  end
elseif op == 'failure' then
  if b.state == 'closed' then
    b.failures = b.failures + 1
    if b.failures >= failure_threshold then open() end
  elseif b.state == 'half_open' then
    b.failures = b.failures + 1
    open()
  end
elseif op == 'open' then
  open()
elseif op == 'close' then
  close()
end
redis.call('HSET', key, 'state', b.state, 'failures', b.failures, 'successes', b.successes, 'permits', b.permits,
  'opened_at', tostring(b.opened_at), 'window_at', tostring(b.window_at), 'deferred', b.deferred)
return {before, b.state, allowed, tostring(retry_at)}
"""


@dataclass(frozen=True, kw_only=True)
class Decision:
    """May a job of this breaker run now? If not, `retry_at` is when to try it again."""

    allowed: bool
    retry_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class BreakerState:
    """One breaker as the admin and `/api/jobs/metrics` show it."""

    name: str
    state: str
    failures: int
    successes: int
    deferred: int
    opened_at: datetime | None
    settings: BreakerSettings

    @property
    def retry_at(self) -> datetime | None:
        """While open: when it turns half-open."""
        if self.state != OPEN or self.opened_at is None:
            return None
        return datetime.fromtimestamp(self.opened_at.timestamp() + self.settings.recovery_timeout, tz=UTC)


def settings_for(name: str) -> BreakerSettings:
    """`JOBS_APP["BREAKERS"][name]`, each missing key from the defaults."""
    return app_settings.breaker(name)


def names() -> list[str]:
    """Every breaker a handler names or the settings configure."""
    used = {handler.breaker for handler in all_handlers().values() if handler.breaker}
    return sorted(used | set(app_settings.BREAKERS))


def _epoch(now: datetime | None) -> float:
    return time.time() if now is None else now.timestamp()


class Breaker:
    """One named breaker. Every method is one atomic round trip to Redis."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.key = f"{KEY_PREFIX}{name}"

    def _run(self, operation: str, now: datetime | None, reason: str = "") -> tuple[str, bool, datetime | None]:
        config = settings_for(self.name)
        script = control_connection().register_script(_SCRIPT)
        before, after, allowed, retry_at = script(
            keys=[self.key],
            args=[
                operation,
                repr(_epoch(now)),
                config.failure_threshold,
                config.recovery_timeout,
                config.success_threshold,
            ],
        )
        before, after = _text(before), _text(after)
        if before != after:
            logger.warning("Breaker %s: %s -> %s (%s)", self.name, before, after, reason or operation)
        retry = float(retry_at)
        return after, bool(allowed), datetime.fromtimestamp(retry, tz=UTC) if retry else None

    def acquire(self, *, now: datetime | None = None) -> Decision:
        """Ask to run one job: allowed (closed, or one of half-open's trial jobs), or when to try again."""
        _state, allowed, retry_at = self._run("acquire", now, "recovery timeout passed")
        return Decision(allowed=allowed, retry_at=None if allowed else retry_at)

    def record_success(self, *, now: datetime | None = None) -> None:
        self._run("success", now, "enough successes")

    def record_failure(self, *, now: datetime | None = None) -> None:
        self._run("failure", now, "failures")

    def open(self, *, now: datetime | None = None, by: str = "") -> None:
        """Open it by hand: its jobs wait for the recovery timeout."""
        self._run("open", now, f"opened by hand{' by ' + by if by else ''}")

    def close(self, *, now: datetime | None = None, by: str = "") -> None:
        """Close it by hand: its jobs run again at once, counts reset."""
        self._run("close", now, f"closed by hand{' by ' + by if by else ''}")

    def state(self) -> BreakerState:
        raw = {_text(field): _text(value) for field, value in control_connection().hgetall(self.key).items()}
        opened_at = float(raw.get("opened_at") or 0)
        return BreakerState(
            name=self.name,
            state=raw.get("state", CLOSED),
            failures=int(raw.get("failures") or 0),
            successes=int(raw.get("successes") or 0),
            deferred=int(raw.get("deferred") or 0),
            opened_at=datetime.fromtimestamp(opened_at, tz=UTC) if opened_at else None,
            settings=settings_for(self.name),
        )


def states() -> list[BreakerState]:
    """Every known breaker's state, by name."""
    return [Breaker(name).state() for name in names()]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
