"""Pausing a queue or a handler, for every worker at once.

The flags live in one Redis hash, `jobs_app:paused` (field `queue<TAB>name` or
`handler<TAB>name`, value `{"since": epoch seconds, "by": who}`), so a pause set from the admin,
the API or `manage.py jobs_pause` holds on every worker process on every machine. A worker that
takes a job of a paused queue or handler puts it back unrun, its attempt not spent (the circuit
breaker's put-back path), to look again `PAUSE_RECHECK` seconds later; once resumed, the jobs
run at their next look.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

from . import transport
from .exceptions import NothingToPause

logger = logging.getLogger("jobs_app")

PAUSED_KEY = "jobs_app:paused"
QUEUE, HANDLER = "queue", "handler"
KINDS = (QUEUE, HANDLER)
_SEP = "\t"
# A worker reads the flags at most this often (one HGETALL) instead of once per job: a pause set
# anywhere holds on every worker within this many seconds.
FLAGS_MAX_AGE = 1.0
_flags_read: tuple[float, dict[str, str]] | None = None


@dataclass(frozen=True, kw_only=True)
class Pause:
    """One paused queue or handler: since when, and by whom (a user name, or "" when not known)."""

    kind: str
    name: str
    since: datetime
    by: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "since": self.since.isoformat(), "by": self.by}

    def __str__(self) -> str:
        who = f" by {self.by}" if self.by else ""
        return f"{self.kind} {self.name!r} paused since {self.since.isoformat(timespec='seconds')}{who}"


def known_names(kind: str, handlers: Collection[str]) -> list[str]:
    """The queues (RQ_QUEUES) or handlers (of `handlers`: the registered ones) that can be paused."""
    if kind == QUEUE:
        return sorted(getattr(settings, "RQ_QUEUES", {}))
    if kind == HANDLER:
        return sorted(handlers)
    raise NothingToPause(f"Nothing of kind {kind!r} can be paused: say {' or '.join(KINDS)}")


def _check(kind: str, name: str, handlers: Collection[str]) -> None:
    if name not in known_names(kind, handlers):
        hint = "settings.RQ_QUEUES" if kind == QUEUE else "the registered handlers"
        raise NothingToPause(f"No {kind} named {name!r} (see {hint})")


def pause(kind: str, name: str, *, handlers: Collection[str], by: str = "") -> bool:
    """Pause the queue or handler `name`; False when it was paused already (its `since` is kept).

    `handlers`: the names of the registered handlers (`registry.all_handlers()`; passed in, since
    the worker's side of this module must not import the registry).

    Raises `NothingToPause` for an unknown name, `redis.RedisError` when Redis is unreachable.
    """
    _check(kind, name, handlers)
    value = json.dumps({"since": time.time(), "by": by})
    paused_now = transport.write_hash_field(PAUSED_KEY, _SEP.join((kind, name)), value, only_if_absent=True)
    forget_flags()
    if paused_now:
        logger.warning("Paused: %s %s%s", kind, name, f" by {by}" if by else "")
    return paused_now


def resume(kind: str, name: str, *, handlers: Collection[str], by: str = "") -> bool:
    """Resume the queue or handler `name`; False when it was not paused.

    Raises `NothingToPause` for an unknown name, `redis.RedisError` when Redis is unreachable.
    """
    _check(kind, name, handlers)
    resumed = transport.delete_hash_field(PAUSED_KEY, _SEP.join((kind, name)))
    forget_flags()
    if resumed:
        logger.warning("Resumed: %s %s%s", kind, name, f" by {by}" if by else "")
    return resumed


def _pause_of(field: str, raw: str) -> Pause:
    kind, _, name = field.partition(_SEP)
    try:
        value = json.loads(raw)
        since, by = float(value["since"]), str(value.get("by", ""))
    except (ValueError, KeyError, TypeError):
        since, by = 0.0, ""
    return Pause(kind=kind, name=name, since=datetime.fromtimestamp(since, tz=UTC), by=by)


def paused() -> list[Pause]:
    """Every paused queue and handler, queues first, by name. Raises `redis.RedisError` when unreachable."""
    pauses = [_pause_of(field, raw) for field, raw in transport.read_hash(PAUSED_KEY).items()]
    return sorted(pauses, key=lambda item: (KINDS.index(item.kind) if item.kind in KINDS else 2, item.name))


def holding(queue: str, handler: str) -> Pause | None:
    """The pause that holds a job of `handler` on `queue` (the queue's first), or None.

    Reads the flags as of at most `FLAGS_MAX_AGE` seconds ago: at most one round trip a second per
    process, however many jobs it runs. Raises `redis.RedisError` when they must be read and cannot.
    """
    read_flags()
    assert _flags_read is not None
    flags = _flags_read[1]
    for field in (_SEP.join((QUEUE, queue)), _SEP.join((HANDLER, handler))):
        if field in flags:
            return _pause_of(field, flags[field])
    return None


def read_flags() -> None:
    """Read the flags now unless this process's copy is younger than `FLAGS_MAX_AGE` (a forking worker, before
    each fork: its work horse inherits the copy and needs no Redis connection of its own for it). Raises
    `redis.RedisError` when Redis is unreachable."""
    global _flags_read
    now = time.monotonic()
    if _flags_read is None or now - _flags_read[0] >= FLAGS_MAX_AGE:
        _flags_read = (now, transport.read_hash(PAUSED_KEY))


def forget_flags() -> None:
    """The next look reads the flags afresh (this process changed one, or Redis was emptied)."""
    global _flags_read
    _flags_read = None
