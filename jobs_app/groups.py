"""Failure groups: one row per cause, kept up to date as failures are recorded.

`services.record_failure` asks `fingerprint_of` for the cause of an attempt's error, stores it
on the job and the attempt, and calls `note_failure` in the same transaction. The actions on
a group (retry at a rate, dead, resolve, mute) are in `group_actions`.
"""

from __future__ import annotations

import functools
import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import Count
from django.utils import timezone

from .fingerprint import Fingerprint, fingerprint, project_frame
from .models import FailureGroup, Job, JobQuerySet, column
from .states import FAILED_OR_DEAD

# The sparkline's span: the hourly counts kept on the group row.
SPARK_HOURS = 48
BACKFILL_BATCH_SIZE = 2000


def project_roots() -> list[str]:
    """Where the project's own code lives: `settings.BASE_DIR`, else the working directory."""
    return [str(getattr(settings, "BASE_DIR", None) or os.getcwd())]


def fingerprint_of(job: Job, error_type: str, error_fields: dict[str, str]) -> Fingerprint:
    """The cause of an error of class `error_type` (its dotted name), which ended an attempt of `job`, from the
    attempt's `error_fields` as they are stored (the message and traceback already made safe)."""
    return fingerprint(
        handler=job.handler,
        error_type=error_type,
        message=error_fields["error_message"],
        frame=project_frame(error_fields["traceback"], project_roots()),
    )


def hour_of(moment: datetime) -> int:
    """Hours since the epoch: the key of the group's hourly counts."""
    return int(moment.timestamp() // 3600)


@dataclass(frozen=True)
class Failure:
    """One failed attempt to count in its group: its cause, its job, its stored error fields and when."""

    cause: Fingerprint
    job_id: uuid.UUID
    error_fields: dict[str, str]
    at: datetime


def note_failure(failure: Failure) -> None:
    """Count one failed attempt in its group, creating the group or reopening a resolved one (regressed).

    Call inside the transaction that records the attempt. The group's row is locked while it
    is updated, so concurrent failures of one cause each count once. On a worker's every failure:
    a prepared SELECT and UPDATE, without the ORM's query building.
    """
    cause, job_id, error_fields, at = failure.cause, failure.job_id, failure.error_fields, failure.at
    db = connections[DEFAULT_DB_ALIAS]
    with db.cursor() as cursor:
        cursor.execute(_read_sql(db.vendor), [cause.value])
        row = cursor.fetchone()
        if row is None:
            try:
                with transaction.atomic():
                    _create(
                        cause,
                        first_seen=at,
                        last_seen=at,
                        occurrences=1,
                        hourly={str(hour_of(at)): 1},
                        **_sample(job_id, error_fields),
                    )
                return
            except IntegrityError:  # another worker created it between our look-up and our insert
                cursor.execute(_read_sql(db.vendor), [cause.value])
                row = cursor.fetchone()
        status, sample_job_id, hourly = row
        reopened = status == FailureGroup.Status.RESOLVED
        # A regression's sample is the failure that reopened it.
        sampled = reopened or sample_job_id is None
        sql, names = _count_sql(db.vendor, reopened=reopened, sampled=sampled)
        changes = {"status": FailureGroup.Status.OPEN, "regressed": True} if reopened else {}
        if sampled:
            changes.update(_sample(job_id, error_fields))
        field = functools.partial(column, FailureGroup)
        seen = field("last_seen").get_db_prep_save(at, db)
        counted = _counted(json.loads(hourly) if isinstance(hourly, str | bytes) else hourly, hour_of(at), 1)
        params = [seen, seen, field("hourly").get_db_prep_save(counted, db)]
        params += [field(name).get_db_prep_save(changes[name], db) for name in names]
        cursor.execute(sql, [*params, cause.value])


@functools.cache
def _read_sql(vendor: str) -> str:
    """What `note_failure` reads of a group, locking its row where the database can (SQLite locks it all)."""
    quote = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    columns = ", ".join(quote(name) for name in ("status", "sample_job_id", "hourly"))
    return f"SELECT {columns} FROM {quote(FailureGroup._meta.db_table)} WHERE {quote('fingerprint')} = %s{lock}"


@functools.cache
def _count_sql(vendor: str, *, reopened: bool, sampled: bool) -> tuple[str, tuple[str, ...]]:
    """The UPDATE that counts one failure in a group (and reopens it, and takes its sample), and the names
    of the columns it sets after the count's three."""
    quote = connection.ops.quote_name
    occurrences, last_seen, hourly = map(quote, ("occurrences", "last_seen", "hourly"))
    names = (("status", "regressed") if reopened else ()) + (tuple(_sample(None, {})) if sampled else ())
    assignments = [
        f"{occurrences} = {occurrences} + 1",
        f"{last_seen} = CASE WHEN {last_seen} < %s THEN %s ELSE {last_seen} END",
        f"{hourly} = %s",
        *(f"{quote(name)} = %s" for name in names),
    ]
    table = quote(FailureGroup._meta.db_table)
    return f"UPDATE {table} SET {', '.join(assignments)} WHERE {quote('fingerprint')} = %s", names


def counting_sql(vendor: str) -> str | None:
    """On PostgreSQL, `note_failure` as one INSERT ... ON CONFLICT DO UPDATE that ends a caller's statement whose
    CTE `moved` holds the job row once its attempt is recorded: the count, the regression and the sample go in the
    same statement (one round trip for the whole failure); None elsewhere. Its values: `counting_params`."""
    if vendor != "postgresql":
        return None
    return _counting_sql()


@functools.cache
def _counting_sql() -> str:
    quote = connection.ops.quote_name
    table = quote(FailureGroup._meta.db_table)
    columns = ", ".join(quote(name) for name in (*_COUNTED_COLUMNS, "occurrences", "regressed"))
    placeholders = ", ".join(["%s"] * len(_COUNTED_COLUMNS))
    resolved = f"g.{quote('status')} = '{FailureGroup.Status.RESOLVED}'"
    sampled = f"({resolved} OR g.{quote('sample_job_id')} IS NULL)"
    samples = ", ".join(
        f"{quote(name)} = CASE WHEN {sampled} THEN EXCLUDED.{quote(name)} ELSE g.{quote(name)} END"
        for name in ("sample_job_id", "sample_message", "sample_traceback")
    )
    hourly = quote("hourly")
    return (
        f"INSERT INTO {table} AS g ({columns}) SELECT {placeholders}, 1, false FROM moved "
        f"ON CONFLICT ({quote('fingerprint')}) DO UPDATE SET "
        f"{quote('occurrences')} = g.{quote('occurrences')} + 1, "
        f"{quote('last_seen')} = GREATEST(g.{quote('last_seen')}, EXCLUDED.{quote('last_seen')}), "
        # The hours still in the sparkline's span, with one more at this hour.
        f"{hourly} = COALESCE((SELECT jsonb_object_agg(h.key, h.value) FROM jsonb_each(g.{hourly}) AS h "
        f"WHERE h.key::bigint > %s), '{{}}'::jsonb) "
        f"|| jsonb_build_object(%s::text, COALESCE((g.{hourly} ->> %s::text)::bigint, 0) + 1), "
        f"{quote('status')} = CASE WHEN {resolved} THEN '{FailureGroup.Status.OPEN}' ELSE g.{quote('status')} END, "
        f"{quote('regressed')} = g.{quote('regressed')} OR {resolved}, "
        f"{samples}"
    )


# What `counting_sql` inserts for a new group, in this order (then `occurrences` 1 and `regressed` false).
_COUNTED_COLUMNS = (
    "fingerprint",
    "handler",
    "error_type",
    "message",
    "frame",
    "first_seen",
    "last_seen",
    "hourly",
    "status",
    "sample_job_id",
    "sample_message",
    "sample_traceback",
)


def counting_params(failure: Failure, db: Any) -> list[Any]:
    """The values of `counting_sql` for `failure`, ready for the connection `db`."""
    cause, at = failure.cause, failure.at
    hour = hour_of(at)
    values = {
        "fingerprint": cause.value,
        "handler": cause.handler[:200],
        "error_type": cause.error_type[:300],
        "message": cause.message,
        "frame": cause.frame[:300],
        "first_seen": at,
        "last_seen": at,
        "hourly": {str(hour): 1},
        "status": FailureGroup.Status.OPEN,
        **_sample(failure.job_id, failure.error_fields),
    }
    prepared = [column(FailureGroup, name).get_db_prep_save(values[name], db) for name in _COUNTED_COLUMNS]
    return [*prepared, hour - SPARK_HOURS, str(hour), str(hour)]


def _create(cause: Fingerprint, **fields) -> FailureGroup:
    return FailureGroup.objects.create(
        fingerprint=cause.value,
        handler=cause.handler[:200],
        error_type=cause.error_type[:300],
        message=cause.message,
        frame=cause.frame[:300],
        **fields,
    )


def _sample(job_id: uuid.UUID | None, error_fields: dict[str, str]) -> dict:
    return {
        "sample_job_id": job_id,
        "sample_message": error_fields.get("error_message", ""),
        "sample_traceback": error_fields.get("traceback", ""),
    }


def _counted(hourly: dict[str, int], hour: int, count: int) -> dict[str, int]:
    """`hourly` with `count` more at `hour`, hours older than the sparkline's span dropped."""
    kept = {key: value for key, value in (hourly or {}).items() if int(key) > hour - SPARK_HOURS}
    kept[str(hour)] = kept.get(str(hour), 0) + count
    return kept


def sparkline_counts(group: FailureGroup, *, now: datetime) -> list[int]:
    """Attempts per hour over the last `SPARK_HOURS` hours, oldest first."""
    latest = hour_of(now)
    return [int(group.hourly.get(str(hour), 0)) for hour in range(latest - SPARK_HOURS + 1, latest + 1)]


def jobs_of(fingerprints: Iterable[str]) -> JobQuerySet:
    """The jobs of these groups now failed or dead (through the partial `jobs_fingerprint_state` index: every
    failed or dead job has a `failed_at`, and saying so lets SQLite use it)."""
    return Job.objects.filter(fingerprint__in=list(fingerprints), state__in=FAILED_OR_DEAD, failed_at__isnull=False)


def job_counts(fingerprints: Iterable[str]) -> dict[str, int]:
    """Failed and dead jobs per group, for a page of groups: one indexed GROUP BY query."""
    fingerprints = list(fingerprints)
    if not fingerprints:
        return {}
    rows = (
        jobs_of(fingerprints)
        .order_by()
        .values("fingerprint")
        .annotate(jobs=Count("pk"))
        .values_list("fingerprint", "jobs")
    )
    return {fingerprint_value: 0 for fingerprint_value in fingerprints} | dict(rows)


def muted_fingerprints() -> list[str]:
    """The muted groups: the sweeper leaves their jobs alone and the dead-job alert leaves them out."""
    return list(FailureGroup.objects.filter(status=FailureGroup.Status.MUTED).values_list("pk", flat=True))


def without_muted(jobs: JobQuerySet) -> JobQuerySet:
    """`jobs` less those of muted failure groups (no change, and no subquery, while none is muted)."""
    muted = muted_fingerprints()
    return jobs.exclude(fingerprint__in=muted) if muted else jobs


def add_backfilled(cause: Fingerprint, jobs: list[tuple]) -> None:
    """Count `jobs` (pk, failed_at, message, traceback), fingerprinted by the backfill, in their group."""
    seen = [failed_at for _pk, failed_at, _message, _traceback in jobs if failed_at is not None] or [timezone.now()]
    group = FailureGroup.objects.select_for_update().filter(pk=cause.value).first()
    if group is None:
        pk, _failed_at, message, traceback = jobs[-1]
        _create(
            cause,
            first_seen=min(seen),
            last_seen=max(seen),
            occurrences=len(jobs),
            **_sample(pk, {"error_message": message, "traceback": traceback}),
        )
        return
    group.occurrences += len(jobs)
    group.first_seen, group.last_seen = min(group.first_seen, *seen), max(group.last_seen, *seen)
    group.save(update_fields=["occurrences", "first_seen", "last_seen"])
