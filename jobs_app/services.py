"""Every change of a job's state goes through here: enqueue, claim, record an attempt, re-run.

The worker, the admin, the API and the sweeper all call these functions; none of
them writes a `Job` row by itself.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, models, transaction
from django.db.models import Case, DateTimeField, F, Field, QuerySet, Value, When
from django.db.models.base import ModelState
from django.db.models.functions import Coalesce
from django.utils import timezone
from redis import RedisError
from uuid6 import uuid7

from . import groups, metrics, prepared, transport
from .failures import ErrorReport
from .logs import job_extra
from .models import Job, JobAttempt, JobQuerySet, column
from .payload import encode_arguments, safe_text
from .policy import Backoff, RetryDecision, Verdict, decide_after
from .signals import attempt_recorded, job_dead
from .states import RETRYABLE, RUNNABLE, TERMINAL, State

if TYPE_CHECKING:
    from .registry import Handler

logger = logging.getLogger("jobs_app")

ResultT = TypeVar("ResultT", bound="BulkResult")

RERUN_BATCH_SIZE = 5000
# A spread re-run sets each row's time with a CASE of this many branches per UPDATE.
SPREAD_BATCH_SIZE = 500
BULK_BATCH_SIZE = 1000
_MAX_MESSAGE_LENGTH = 10_000
_MAX_TRACEBACK_LENGTH = 50_000


# The columns `dispatch_from_row` reads, after the primary key.
DISPATCH_FIELDS = ("handler", "queue", "priority", "timeout", "state", "scheduled_for")


def dispatch_from_row(row: Sequence[Any]) -> transport.Dispatch:
    """The RQ dispatch of one row read as `("pk", *DISPATCH_FIELDS)`: the one place a `Dispatch` is built."""
    pk, handler, queue, priority, timeout, state, scheduled_for = row
    return transport.Dispatch(
        job_id=str(pk),
        handler=handler,
        queue=queue,
        priority=priority,
        timeout=timeout,
        run_at=scheduled_for if state == State.SCHEDULED else None,
    )


def dispatch_of(job: Job) -> transport.Dispatch:
    return dispatch_from_row([job.pk, *(getattr(job, name) for name in DISPATCH_FIELDS)])


def batches(
    queryset: JobQuerySet, fields: Sequence[str], batch_size: int, *, lock: bool = False
) -> Iterator[list[tuple]]:
    """Rows as tuples (`pk`, then `fields`), a batch at a time, by primary-key cursor: constant memory.

    The one batch walker. With `lock`, each batch is read with SELECT ... FOR UPDATE SKIP LOCKED
    in a transaction of its own that stays open while the caller handles it; a caller that
    locks must consume every batch (leaving early rolls back the batch in hand).
    """
    last_pk = None
    while True:
        if lock:
            with transaction.atomic():
                rows = queryset.select_for_update(skip_locked=True).page_after(last_pk, fields, batch_size)
                if rows:
                    yield rows
        else:
            rows = queryset.page_after(last_pk, fields, batch_size)
            if rows:
                yield rows
        if len(rows) < batch_size:
            return  # that was the last batch: no need to ask again
        last_pk = rows[-1][0]


def push_on_commit(dispatches: Sequence[transport.Dispatch], *, confirm: bool = False) -> None:
    """Push jobs to RQ once the current transaction commits (at once outside one).

    If Redis cannot be reached, the rows are marked `needs_push` for the sweeper's
    repair and the caller carries on: no exception reaches the request. With `confirm`
    (rows the caller marked `needs_push` in the transaction), the mark is cleared once pushed.
    """

    def push() -> None:
        try:
            transport.push(dispatches)
            if confirm:
                Job.objects.filter(pk__in=[dispatch.job_id for dispatch in dispatches], needs_push=True).update(
                    needs_push=False
                )
        except RedisError as error:
            logger.error(
                "Could not push %d job(s) to Redis (%s); they are kept and will be pushed by the sweeper's repair",
                len(dispatches),
                error,
            )
            Job.objects.filter(pk__in=[dispatch.job_id for dispatch in dispatches]).update(needs_push=True)

    transaction.on_commit(push, robust=True)


def enqueue(handler: Handler, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Job:
    """Record a job for `handler` in the caller's transaction; push it to RQ on commit."""
    job = _new_job(handler, args, kwargs, now=timezone.now())
    if handler.idempotency_key is None:
        _insert_jobs(handler, [job])
    else:
        existing = _holder_of(handler.idempotency_key)
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                job.save(force_insert=True)
        except IntegrityError:
            # Another process took the key between our look-up and our insert.
            existing = _holder_of(handler.idempotency_key)
            if existing is None:
                raise
            return existing
    push_on_commit([dispatch_of(job)])
    return job


def enqueue_many(handler: Handler, calls: Iterable[tuple[tuple[Any, ...], dict[str, Any]]]) -> list[Job]:
    """Record many jobs for `handler` at once: every call is checked first, then one bulk
    insert per batch in one transaction, then one Redis pipeline per batch on commit."""
    if handler.idempotency_key is not None:
        raise TypeError(f"{handler.name}: enqueue_many() cannot share one idempotency_key between jobs")
    now = timezone.now()
    jobs: list[Job] = []
    for args, kwargs in calls:
        jobs.append(_new_job(handler, args, kwargs, now=now) if not jobs else _sibling(jobs[0], handler, args, kwargs))
    with transaction.atomic():
        for start in range(0, len(jobs), BULK_BATCH_SIZE):
            _insert_jobs(handler, jobs[start : start + BULK_BATCH_SIZE])
        push_on_commit([dispatch_of(job) for job in jobs])
    return jobs


# The columns in which the jobs of one `enqueue_many` call differ; and those in which two calls with the same
# handler options differ (the moment, what it makes of delay= and at=, the idempotency key). The others are the
# handler's.
_PER_JOB_FIELDS = frozenset({"id", "args", "kwargs"})
_PER_CALL_FIELDS = _PER_JOB_FIELDS | {"created_at", "state", "scheduled_for", "idempotency_key"}


def _insert_jobs(handler: Handler, jobs: Sequence[Job]) -> None:
    """INSERT new rows for `jobs` (all made from `handler`'s prototype at one moment by `_new_job`), without the
    ORM's per-value preparation and per-batch SQL building: the handler's columns are prepared once per
    handler (`_prototype`), the moment's once per call. On PostgreSQL, one statement for many jobs (the
    varying columns as arrays, through `unnest`); elsewhere one prepared statement run for each row (`executemany`)."""
    db = connections[DEFAULT_DB_ALIAS]  # the proxy `connection` costs a context-local look-up per use
    plan = _insert_plan(db.vendor)
    prototype = _prototype(handler)
    first = jobs[0]
    with db.cursor() as cursor:
        if len(jobs) == 1:
            sql, names = prototype.one_row_statement(db, plan)
            values = [prepare(getattr(first, attname), db) for _index, attname, prepare in plan.per_call]
            cursor.execute(sql, dict(zip(names, values, strict=True)) if names else values)
        else:
            _insert_many(cursor, plan, prototype, db, jobs)
    for job in jobs:
        job._state.adding = False
        job._state.db = db.alias


def _insert_many(cursor: Any, plan: _InsertPlan, prototype: _Prototype, db: Any, jobs: Sequence[Job]) -> None:
    """Several jobs: one `unnest` INSERT on PostgreSQL, the row INSERT run for each elsewhere."""
    template = list(prototype.prepared(db, plan.fields))
    for index, attname, prepare in plan.per_call:
        template[index] = prepare(getattr(jobs[0], attname), db)
    if plan.unnest_sql is not None:
        varying = {index: attname for index, attname, _prepare in plan.per_job}
        constants = [value for index, value in enumerate(template) if index not in varying]
        arrays = [
            [_json_or_value(plan.fields[index], getattr(job, attname)) for job in jobs]
            for index, attname in varying.items()
        ]
        cursor.execute(plan.unnest_sql, [*constants, *arrays])
    else:
        rows = []
        for job in jobs:
            row = list(template)
            for index, attname, prepare in plan.per_job:
                row[index] = prepare(getattr(job, attname), db)
            rows.append(row)
        cursor.executemany(plan.sql, rows)


def _json_or_value(field: Any, value: Any) -> Any:
    # In an array a JSON value goes as its text (cast to jsonb in the statement).
    return json.dumps(value) if field.get_internal_type() == "JSONField" else value


# A column's index in the INSERT, its attribute on `Job`, and how its value goes to the database.
_Prepared = tuple[int, str, Callable[[Any, Any], Any]]


@dataclass(frozen=True)
class _InsertPlan:
    fields: list[Field]
    head: str  # INSERT INTO table (columns)
    sql: str  # a row by position, for each row with `executemany`
    unnest_sql: str | None  # many rows, PostgreSQL only
    per_call: tuple[_Prepared, ...]  # the columns `_PER_CALL_FIELDS`
    per_job: tuple[_Prepared, ...]  # the columns `_PER_JOB_FIELDS`


@functools.cache
def _insert_plan(vendor: str) -> _InsertPlan:
    """The single-row INSERT, and on PostgreSQL the many-row one: constants cast to their column's type,
    the per-job columns from `unnest` of typed arrays."""
    quote = connection.ops.quote_name
    fields = list(Job._meta.concrete_fields)
    table = quote(Job._meta.db_table)
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    head = f"INSERT INTO {table} ({columns})"
    sql = f"{head} VALUES ({placeholders})"
    per_call = tuple(
        (index, field.attname, _preparation(field))
        for index, field in enumerate(fields)
        if field.name in _PER_CALL_FIELDS
    )
    per_job = tuple(entry for entry in per_call if fields[entry[0]].name in _PER_JOB_FIELDS)
    unnest_sql = None
    if vendor == "postgresql":
        varying = [fields[index] for index, _attname, _prepare in per_job]
        selected = ", ".join(
            f"u.{quote(field.column)}" if field.name in _PER_JOB_FIELDS else f"CAST(%s AS {field.db_type(connection)})"
            for field in fields
        )
        arrays = ", ".join(f"CAST(%s AS {field.db_type(connection)}[])" for field in varying)
        names = ", ".join(quote(field.column) for field in varying)
        unnest_sql = f"{head} SELECT {selected} FROM unnest({arrays}) AS u({names})"
    return _InsertPlan(fields=fields, head=head, sql=sql, unnest_sql=unnest_sql, per_call=per_call, per_job=per_job)


def _preparation(field: Field) -> Callable[[Any, Any], Any]:
    """`field.get_db_prep_save(value, db)` for the values `_new_job` makes (a UUID, JSON lists and dicts, aware
    datetimes, strings, None): the database's own adaptation of each, without the field machinery's checks for
    what they cannot be (expressions, lazy strings, naive datetimes, dates): 7 of them cost about 30 µs a job."""
    kind = type(field)
    if kind is models.UUIDField:
        return lambda value, db: value if value is None or db.features.has_native_uuid_field else value.hex
    if kind is models.JSONField:
        encoder = field.encoder  # type: ignore[attr-defined]
        return lambda value, db: None if value is None else db.ops.adapt_json_value(value, encoder)
    if kind is models.DateTimeField:
        return lambda value, db: None if value is None else db.ops.adapt_datetimefield_value(value)
    if kind is models.CharField:
        return lambda value, db: value  # a str (State is one) or None: to_python gives it back as it is
    return field.get_db_prep_save


def _new_job(handler: Handler, args: tuple[Any, ...], kwargs: dict[str, Any], *, now: datetime) -> Job:
    transport.queue_config(handler.queue)
    job_args, job_kwargs = encode_arguments(handler.name, args, kwargs)
    run_at = handler.at
    if handler.delay:
        run_at = now + timedelta(seconds=handler.delay)
    return _copy(
        _prototype(handler).job,
        id=uuid7(),
        args=job_args,
        kwargs=job_kwargs,
        state=State.SCHEDULED if run_at is not None and run_at > now else State.QUEUED,
        created_at=now,
        scheduled_for=run_at,
        idempotency_key=handler.idempotency_key,
    )


def _sibling(first: Job, handler: Handler, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Job:
    """A job like `first` (same handler, same moment) with its own id and arguments."""
    job_args, job_kwargs = encode_arguments(handler.name, args, kwargs)
    return _copy(first, id=uuid7(), args=job_args, kwargs=job_kwargs)


def _copy(job: Job, **values: Any) -> Job:
    """A new, unsaved `Job` with `job`'s attributes and `values`, without `Job.__init__` walking every field
    (nor its pre_init/post_init signals, which jobs_app does not use); its own backoff dict."""
    copy = Job.__new__(Job)
    copy.__dict__.update(job.__dict__, backoff=dict(job.backoff), **values, _state=ModelState())
    return copy


class _Prototype:
    """What every job of one handler's options shares: a `Job` built once (the others copy it), and its
    INSERT values prepared once per database vendor."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self._prepared: dict[str, tuple] = {}
        self._statements: dict[str, tuple[str, tuple[str, ...]]] = {}

    def one_row_statement(self, db: Any, plan: _InsertPlan) -> tuple[str, tuple[str, ...]]:
        """The INSERT of one job, its parameters the per-call columns (`plan.per_call`, in order) and the
        prototype's values in it as SQL literals (quoted by Django's schema editor, as it quotes a column's
        default in a migration), and the parameters' names (SQLite) or none (by position).

        Seven parameters instead of 28: psycopg adapts each parameter on every execute, and Django's SQLite
        cursor turns each `%s` into `?` with a regular expression over the whole statement (11% of an
        enqueue's instructions), named parameters with one %-formatting.
        """
        statement = self._statements.get(db.vendor)
        if statement is None:
            db.ensure_connection()  # PostgreSQL's quoting asks the connection (its encoding)
            quote = db.schema_editor().quote_value
            per_call = {index: attname for index, attname, _prepare in plan.per_call}
            names = tuple(per_call.values()) if db.vendor == "sqlite" else ()
            values = [
                (f"%({per_call[index]})s" if names else "%s")
                if index in per_call
                else quote(value).replace("%", "%%")  # a literal % is not a placeholder
                for index, value in enumerate(self.prepared(db, plan.fields))
            ]
            statement = self._statements[db.vendor] = (f"{plan.head} VALUES ({', '.join(values)})", names)
        return statement

    def prepared(self, db: Any, fields: Sequence[Field]) -> tuple:
        """The prototype's values as `fields` go to `db` (the per-call ones too; the caller replaces them)."""
        row = self._prepared.get(db.vendor)
        if row is None:
            row = self._prepared[db.vendor] = tuple(
                field.get_db_prep_save(getattr(self.job, field.attname), db) for field in fields
            )
        return row


def _prototype(handler: Handler) -> _Prototype:
    # By the options a row takes from its handler, not by the handler object: `handler.using(...)` and the
    # django.tasks backend make a new `Handler` for each enqueue.
    return _prototype_of(
        handler.name, handler.queue, handler.priority, handler.attempts, handler.backoff, handler.timeout
    )


@functools.lru_cache(maxsize=256)
def _prototype_of(
    name: str, queue: str, priority: str, attempts: int, backoff: Backoff, timeout: float | None
) -> _Prototype:
    return _Prototype(
        Job(
            handler=name,
            queue=queue,
            priority=priority,
            max_attempts=attempts,
            backoff=backoff.to_dict(),
            timeout=timeout,
        )
    )


def _holder_of(idempotency_key: str) -> Job | None:
    return Job.objects.unfinished().filter(idempotency_key=idempotency_key).first()


def claim(job_id: uuid.UUID, *, worker_name: str, now: datetime | None = None) -> Job | None:
    """Move a waiting, due job to `running` for one more attempt, and return its row.

    A conditional update: only a `queued` job, or a `scheduled` one whose time has
    come, becomes `running`, so a job delivered twice runs once at a time. None when
    the job is not waiting (someone else has it, it is finished or not due at `now`, or has no row).
    """
    # One UPDATE ... RETURNING instead of a SELECT and an UPDATE: a round trip less on every job (SQLite 3.35+
    # and PostgreSQL both have RETURNING). The row is built straight from the returned values, with the
    # converters the ORM would apply, without a RawQuerySet's per-query column mapping.
    sql, field_names, compiler, converters = _claim_plan(connection.vendor)
    at = connection.ops.adapt_datetimefield_value(now or timezone.now())
    pk = Job._meta.pk.get_db_prep_value(job_id, connection)
    with prepared.cursor(connection) as cursor:  # prepared once per connection on PostgreSQL
        cursor.execute(sql, [State.RUNNING, at, worker_name, pk, State.QUEUED, State.SCHEDULED, at])
        row = cursor.fetchone()
    if row is None:
        return None
    (values,) = compiler.apply_converters([row], converters) if converters else [row]
    return Job.from_db(connection.alias, field_names, list(values))


@functools.cache
def _claim_plan(vendor: str) -> tuple[str, list[str], Any, dict]:
    """The claim's SQL, the fields it returns, and the ORM's converters for them (once per database vendor)."""
    quote = connection.ops.quote_name
    fields = Job._meta.concrete_fields
    table, state, attempts, started_at, worker, pk, scheduled_for = map(
        quote, (Job._meta.db_table, "state", "attempts", "started_at", "worker_name", "id", "scheduled_for")
    )
    returning = ", ".join(quote(field.column) for field in fields)
    sql = (
        f"UPDATE {table} SET {state} = %s, {attempts} = {attempts} + 1, {started_at} = %s, {worker} = %s "
        f"WHERE {pk} = %s AND ({state} = %s OR ({state} = %s AND {scheduled_for} <= %s)) RETURNING {returning}"
    )
    compiler = Job.objects.all().query.get_compiler(connection=connection)
    converters = compiler.get_converters([field.get_col(Job._meta.db_table) for field in fields])
    return sql, [field.attname for field in fields], compiler, converters


def release(job: Job, *, until: datetime) -> bool:
    """Put back a claimed job without running it: `scheduled` for `until`, its attempt not spent.

    For a job that may not run yet (its circuit breaker is open): no `JobAttempt` is recorded
    and `attempts` goes back to what it was before `claim`. Only while the row is still this
    running attempt; False (nothing changed) otherwise.
    """
    updated = Job.objects.filter(pk=job.pk, state=State.RUNNING, cycle=job.cycle, attempts=job.attempts).update(
        state=State.SCHEDULED, scheduled_for=until, attempts=F("attempts") - 1, started_at=None, worker_name=""
    )
    if updated:
        job.state, job.scheduled_for, job.attempts, job.started_at, job.worker_name = (
            State.SCHEDULED,
            until,
            job.attempts - 1,
            None,
            "",
        )
    return bool(updated)


def set_progress(job: Job, percent: int, message: str = "") -> None:
    """Record how far a running job has got (0 to 100), with an optional short message."""
    if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
        raise ValueError(f"progress must be a number from 0 to 100, got {percent!r}")
    job.progress, job.progress_message = int(percent), safe_text(message)[:200]
    Job.objects.filter(pk=job.pk).update(progress=job.progress, progress_message=job.progress_message)


def record_success(job: Job, *, started_at: datetime, result: Any) -> None:
    """The attempt returned: the job `succeeded` with its result."""
    now = timezone.now()
    changes = _succeeded(now, result)
    _finish_attempt(job, started_at=started_at, finished_at=now, outcome=JobAttempt.Outcome.SUCCEEDED, changes=changes)


def _succeeded(now: datetime | None, result: Any) -> dict[str, Any]:
    return {
        "state": State.SUCCEEDED,
        "result": result,
        "finished_at": now,
        "progress": 100,
        "error_type": "",
        "error_message": "",
        "traceback": "",
    }


def end_attempt(
    job: Job,
    *,
    outcome: str,
    error: BaseException | ErrorReport,
    give_up_on: tuple[type[BaseException], ...] | None,
    traceback: str = "",
    started_at: datetime | None = None,
    redelivered_by_rq: bool = False,
) -> RetryDecision | None:
    """This attempt of `job` ended with `error`: the one path for a failed, killed or timed-out attempt.

    Asks the retry policy (`give_up_on` None: the handler is gone, so nothing can run it: give
    up), records the attempt with `outcome` (`JobAttempt.Outcome.FAILED`, `KILLED` or `TIMED_OUT`), and moves
    the row to `scheduled` for a retry, `failed` or `dead`. A retry is handed back to RQ when the
    transaction commits, unless `redelivered_by_rq` (the runner, inside the job's own RQ job,
    returns RQ a `Retry` instead: a push under the same id would be deleted when that RQ job ends).
    `error` is the exception itself, or its `ErrorReport` when it was raised in another process
    (its traceback and its give-up verdict are in the report then).

    Only while the row is still this `running` attempt: returns the decision when recorded,
    None (nothing changed) when someone else has moved the row on.
    """
    report = error if isinstance(error, ErrorReport) else ErrorReport.of(error, give_up_on=give_up_on or (),
                                                                           traceback=traceback)  # fmt: skip
    if give_up_on is None:
        decision = RetryDecision(verdict=Verdict.DEAD)
    else:
        decision = decide_after(
            attempt=job.attempts,
            max_attempts=job.max_attempts,
            backoff=Backoff.from_dict(job.backoff),
            give_up=report.gives_up,
        )
    now = timezone.now()
    error_fields = {
        "error_type": report.type_name[:200],
        "error_message": report.message[:_MAX_MESSAGE_LENGTH],
        "traceback": report.traceback[-_MAX_TRACEBACK_LENGTH:],
    }
    cause = groups.fingerprint_of(job, report.dotted_type, error_fields)
    error_fields["fingerprint"] = cause.value
    if decision.verdict == Verdict.RETRY:
        changes = {"state": State.SCHEDULED, "scheduled_for": now + timedelta(seconds=decision.delay)}
    else:
        dead = decision.verdict == Verdict.DEAD
        changes = {"state": State.DEAD if dead else State.FAILED, "failed_at": now, "finished_at": now}
    recorded = _finish_attempt(
        job,
        started_at=started_at or job.started_at or now,
        finished_at=now,
        outcome=outcome,
        changes={**changes, **error_fields},
        attempt_fields=error_fields,
        failure=groups.Failure(cause=cause, job_id=job.pk, error_fields=error_fields, at=now),
    )
    if not recorded:
        return None
    if job.state == State.DEAD:
        job_dead.send(sender=Job, job=job)
    elif job.state == State.SCHEDULED and not redelivered_by_rq:
        push_on_commit([dispatch_of(job)])
    return decision


def _finish_attempt(
    job: Job,
    *,
    started_at: datetime,
    finished_at: datetime,
    outcome: str,
    changes: dict[str, Any],
    attempt_fields: dict[str, str] | None = None,
    failure: groups.Failure | None = None,
) -> bool:
    """Move the row with `changes` and record its `JobAttempt`, only while it is still this running attempt,
    and count a `failure` in its group.

    Raw SQL, built once per shape of `changes`: on PostgreSQL one statement (an UPDATE ... RETURNING
    feeding the INSERT, and the group's count, `groups.counting_sql`), on other databases the UPDATE, the
    INSERT and `groups.note_failure` in one transaction.
    """
    attempt = dict(
        zip(
            _ATTEMPT_FIELDS,
            (job.cycle, job.attempts, started_at, finished_at, finished_at - started_at, outcome, job.worker_name),
            strict=True,
        ),
        **(attempt_fields or {}),
    )
    db = connections[DEFAULT_DB_ALIAS]  # the connection itself: each attribute read through the proxy is a look-up
    defaults = _attempt_defaults(db.vendor, frozenset(attempt))
    counted = failure is not None and groups.counting_sql(db.vendor) is not None
    update_sql, insert_sql, combined_sql = _finish_sql(
        db.vendor, tuple(changes), (*attempt, *defaults), counted=counted
    )
    set_params = [_field(Job, name).get_db_prep_save(value, db) for name, value in changes.items()]
    # Conditional: a row someone else has moved on (the sweeper's repair, a re-run) is left alone.
    where_params = [_field(Job, "id").get_db_prep_save(job.pk, db), State.RUNNING, job.cycle, job.attempts]
    attempt_params = [_field(JobAttempt, name).get_db_prep_save(value, db) for name, value in attempt.items()]
    attempt_params += defaults.values()
    # PostgreSQL: one statement (the failure's count in it), which needs no transaction of its own.
    with contextlib.nullcontext() if combined_sql is not None else transaction.atomic():
        with prepared.cursor(db) as cursor:  # prepared once per connection on PostgreSQL
            if combined_sql is not None:
                counting_params = groups.counting_params(failure, db) if failure is not None else []
                cursor.execute(combined_sql, [*set_params, *where_params, *attempt_params, *counting_params])
                recorded = cursor.rowcount == 1
            else:
                cursor.execute(update_sql, [*set_params, *where_params])
                recorded = cursor.rowcount == 1
                if recorded:
                    cursor.execute(insert_sql, [where_params[0], *attempt_params])
        if recorded and failure is not None and combined_sql is None:
            groups.note_failure(failure)  # in the same transaction: a recorded failure is always counted
    if not recorded:
        logger.warning(
            "Not recorded: %s is no longer this running attempt", job.label, extra=job_extra(job, outcome="stale")
        )
        return False
    for field, value in changes.items():
        setattr(job, field, value)
    metrics.record_attempt(job.handler, outcome, (finished_at - started_at).total_seconds())
    # Whoever recorded it: a worker, the pool for a killed process, the sweeper's repair (after the commit).
    transaction.on_commit(functools.partial(attempt_recorded.send, sender=Job, job=job))
    return True


# The `JobAttempt` fields every attempt's record gives (a failure adds its error's).
_ATTEMPT_FIELDS = ("cycle", "number", "started_at", "finished_at", "duration", "outcome", "worker_name")


@functools.cache
def _attempt_defaults(vendor: str, given: frozenset[str]) -> dict[str, Any]:
    """The `JobAttempt` columns not `given` (but its id and job), with their defaults ready for the database:
    the raw INSERT names every column."""
    db = connections[DEFAULT_DB_ALIAS]
    return {
        field.name: field.get_db_prep_save(field.get_default(), db)
        for field in JobAttempt._meta.concrete_fields
        if field.name not in ("id", "job", *given)
    }


@functools.cache
def _field(model: type[Job] | type[JobAttempt], name: str) -> Field:
    return column(model, name)


@functools.cache
def _finish_sql(
    vendor: str, changed: tuple[str, ...], attempt: tuple[str, ...], *, counted: bool = False
) -> tuple[str, str, str | None]:
    """The UPDATE, the INSERT and (PostgreSQL) the one statement doing both, for these columns; `counted`: the
    one statement ends with the failure group's count (`groups.counting_sql`)."""
    quote = connection.ops.quote_name
    job_table, attempt_table = quote(Job._meta.db_table), quote(JobAttempt._meta.db_table)
    assignments = ", ".join(f"{quote(_field(Job, name).column)} = %s" for name in changed)
    condition = f"{quote('id')} = %s AND {quote('state')} = %s AND {quote('cycle')} = %s AND {quote('attempts')} = %s"
    update = f"UPDATE {job_table} SET {assignments} WHERE {condition}"
    columns = ", ".join(quote(_field(JobAttempt, name).column) for name in ("job", *attempt))
    placeholders = ", ".join(["%s"] * len(attempt))
    insert = f"INSERT INTO {attempt_table} ({columns}) VALUES (%s, {placeholders})"
    combined = None
    if vendor == "postgresql":
        record = f"INSERT INTO {attempt_table} ({columns}) SELECT moved.{quote('id')}, {placeholders} FROM moved"
        if counted:
            # A data-modifying WITH runs to completion whether or not the main statement reads it.
            counting = groups.counting_sql(vendor)
            combined = f"WITH moved AS ({update} RETURNING {quote('id')}), recorded AS ({record}) {counting}"
        else:
            combined = f"WITH moved AS ({update} RETURNING {quote('id')}) {record}"
    return update, insert, combined


@dataclass(frozen=True, kw_only=True)
class Spread:
    """Re-runs spread over time: the i-th job re-run is scheduled for `start + i / rate` seconds."""

    start: datetime
    rate: float

    def at(self, index: int) -> datetime:
        return self.start + timedelta(seconds=index / self.rate)


@dataclass(frozen=True, kw_only=True)
class JobRef:
    """One job a bulk change touched: its id and handler (enough for a log line or an audit entry)."""

    id: str
    handler: str

    @property
    def label(self) -> str:
        return f"{self.handler}:{self.id}"


@dataclass(frozen=True, kw_only=True)
class BulkResult:
    """What a bulk change did: the jobs it `changed`, how many were `not_eligible` (in a state it does
    not change) and how many were `locked` (eligible, but taken by a concurrent change)."""

    changed: tuple[JobRef, ...] = ()
    not_eligible: int = 0
    locked: int = 0

    @property
    def skipped(self) -> int:
        return self.not_eligible + self.locked

    @property
    def total(self) -> int:
        return len(self.changed) + self.skipped


class RerunResult(BulkResult):
    """`rerun()`'s result; `retried` is how many jobs it queued again."""

    @property
    def retried(self) -> int:
        return len(self.changed)


class CancelResult(BulkResult):
    """`cancel()`'s result; `cancelled` is how many jobs it cancelled."""

    @property
    def cancelled(self) -> int:
        return len(self.changed)


def rerun(
    jobs: Job | JobQuerySet,
    *,
    auto_retry: bool = False,
    batch_size: int = RERUN_BATCH_SIZE,
    spread: Spread | None = None,
) -> RerunResult:
    """Run failed, dead or cancelled jobs again: original arguments and options, attempts reset, a new cycle.

    Works on one job or a queryset, in batches: one SELECT ... FOR UPDATE SKIP LOCKED,
    one UPDATE and one Redis pipeline per batch. Jobs in other states, or locked by a
    concurrent re-run, are skipped. `auto_retry=True` (the sweeper) also counts the re-run
    in `auto_retries`. With `spread`, the jobs become `scheduled`, in primary-key order,
    `1 / spread.rate` seconds apart (a failure group retried at a rate): the i-th job
    re-run runs at `spread.at(i)`.
    """
    changes: dict[str, Any] = {
        "state": State.QUEUED,
        "attempts": 0,
        "cycle": F("cycle") + 1,
        "scheduled_for": None,
        "started_at": None,
        "finished_at": None,
        "failed_at": None,
        "result": None,
        "progress": 0,
        "progress_message": "",
        # Until the push on commit clears it: the repair looks up queued jobs by creation time, and a
        # re-run job is old, so a process that dies between the commit and the push leaves it marked.
        "needs_push": True,
    }
    if auto_retry:
        changes["auto_retries"] = F("auto_retries") + 1
    if spread is not None:
        changes["state"] = State.SCHEDULED
        batch_size = min(batch_size, SPREAD_BATCH_SIZE)
    return _change_in_batches(
        RerunResult,
        jobs,
        states=RETRYABLE,
        changes=changes,
        then=_push_rerun_on_commit,
        batch_size=batch_size,
        spread=spread,
    )


def _push_rerun_on_commit(dispatches: Sequence[transport.Dispatch]) -> None:
    push_on_commit(dispatches, confirm=True)


def cancel(jobs: Job | JobQuerySet, *, batch_size: int = RERUN_BATCH_SIZE) -> CancelResult:
    """Cancel jobs that wait to run (`scheduled`, `queued`) and take them off RQ.

    Works on one job or a queryset, in batches: one SELECT ... FOR UPDATE SKIP LOCKED,
    one UPDATE and one Redis pipeline per batch. Jobs in other states (a running job
    cannot be stopped from here), or locked by a concurrent change, are skipped.
    If Redis cannot be reached the rows are still cancelled: a worker that later
    receives one of them skips it, since it is no longer waiting to run.
    """
    changes = {"state": State.CANCELLED, "finished_at": timezone.now(), "needs_push": False}
    return _change_in_batches(
        CancelResult, jobs, states=RUNNABLE, changes=changes, then=_withdraw_on_commit, batch_size=batch_size
    )


def _change_in_batches(
    result_class: type[ResultT],
    jobs: Job | JobQuerySet,
    *,
    states: Collection[str],
    changes: dict[str, Any],
    then: Callable[[Sequence[transport.Dispatch]], None],
    batch_size: int,
    spread: Spread | None = None,
) -> ResultT:
    """Apply `changes` to those of `jobs` in `states`, a batch at a time, and say which changed.

    Each batch takes its rows with SKIP LOCKED, updates them, and hands their dispatches
    to `then` (which acts on Redis once the batch commits). A single `Job` is refreshed.
    """
    queryset = Job.objects.filter(pk=jobs.pk) if isinstance(jobs, Job) else jobs
    total = queryset.count()
    eligible = queryset.filter(state__in=states)
    eligible_at_start = eligible.count() if total else 0
    changed: list[JobRef] = []
    for rows in batches(eligible, DISPATCH_FIELDS, batch_size, lock=True):
        pks = [row[0] for row in rows]
        batch_changes = changes
        if spread is not None:
            # The i-th job changed runs at spread.at(i): one CASE per batch, and the dispatches say so.
            run_at = {pk: spread.at(len(changed) + index) for index, pk in enumerate(pks)}
            times = [When(pk=pk, then=Value(at)) for pk, at in run_at.items()]
            batch_changes = {**changes, "scheduled_for": Case(*times, output_field=DateTimeField())}
            rows = [(*row[:-2], State.SCHEDULED, run_at[row[0]]) for row in rows]
        updated = Job.objects.with_pks(pks).filter(state__in=states).update(**batch_changes)
        if updated != len(rows):
            # Only where the database let a row change between the read and the write: ask which moved.
            moved = set(Job.objects.with_pks(pks).exclude(state__in=states).values_list("pk", flat=True))
            rows = [row for row in rows if row[0] in moved]
        changed.extend(JobRef(id=str(row[0]), handler=row[1]) for row in rows)
        then([dispatch_from_row(row) for row in rows])
    if isinstance(jobs, Job):
        jobs.refresh_from_db()
    return result_class(
        changed=tuple(changed),
        not_eligible=total - eligible_at_start,
        locked=max(0, eligible_at_start - len(changed)),
    )


def _withdraw_on_commit(dispatches: Sequence[transport.Dispatch]) -> None:
    def withdraw() -> None:
        try:
            transport.withdraw(dispatches)
        except RedisError as error:
            logger.warning(
                "Could not take %d cancelled job(s) off Redis (%s); workers will skip them when they arrive",
                len(dispatches),
                error,
            )

    transaction.on_commit(withdraw, robust=True)


def dead_letter(jobs: QuerySet[Job]) -> list:
    """Move `failed` jobs to `dead` (the dead letter) in one UPDATE and send `job_dead` for each.

    Rows locked by a concurrent sweeper, or no longer failed, are left alone. Returns
    the ids moved. Meant for one batch (up to a thousand ids) at a time.
    """
    now = timezone.now()
    with transaction.atomic():
        pks = list(
            jobs.filter(state=State.FAILED).order_by().select_for_update(skip_locked=True).values_list("pk", flat=True)
        )
        if pks:
            Job.objects.with_pks(pks).filter(state=State.FAILED).update(state=State.DEAD, finished_at=now)
    if pks and job_dead.has_listeners(Job):
        for job in Job.objects.filter(pk__in=pks).order_by("pk").iterator(chunk_size=RERUN_BATCH_SIZE):
            job_dead.send(sender=Job, job=job)
    return pks


def repush(jobs: QuerySet[Job]) -> int:
    """Push waiting (`queued` or `scheduled`) jobs to RQ again and clear their `needs_push` flag.

    For the sweeper's repair: jobs whose push failed or whose RQ job vanished from Redis.
    A job delivered twice still runs once (see `claim`). Raises `redis.RedisError` if
    Redis cannot be reached, leaving the rows as they were.
    """
    rows = list(jobs.filter(state__in=RUNNABLE).order_by().values_list("pk", *DISPATCH_FIELDS))
    if not rows:
        return 0
    transport.push([dispatch_from_row(row) for row in rows])
    Job.objects.filter(pk__in=[row[0] for row in rows], needs_push=True).update(needs_push=False)
    return len(rows)


def delete_finished(jobs: QuerySet[Job], *, batch_size: int = BULK_BATCH_SIZE) -> int:
    """Delete those of `jobs` that are finished for good (succeeded, dead, cancelled), with their attempts.

    A batch at a time; a row that left its finished state meanwhile (re-run) is kept. Returns how many.
    """
    finished = jobs.filter(state__in=TERMINAL)
    deleted = 0
    while pks := list(finished.order_by("pk").values_list("pk", flat=True)[:batch_size]):
        Job.objects.filter(pk__in=pks, state__in=TERMINAL).delete()
        deleted += len(pks)
    return deleted


def set_fingerprint(job_ids: Sequence[Any], value: str) -> int:
    """Give jobs recorded before failure groups existed their group's fingerprint (the one-off backfill)."""
    return Job.objects.filter(pk__in=list(job_ids), fingerprint="").update(fingerprint=value)


def purge(before: dict[str, datetime], *, dry_run: bool = False, batch_size: int = BULK_BATCH_SIZE) -> dict[str, int]:
    """Delete the jobs (and their attempts) of each state in `before` that finished before its time.

    For finished states only (see `retention.purge`); a batch is one DELETE for the attempts and one
    for the jobs. Counts by state; `dry_run` only counts.
    """
    deleted = dict.fromkeys(before, 0)
    for state, cutoff in before.items():
        if state not in TERMINAL:
            raise ValueError(f"only finished jobs are purged, not {state!r} ones")
        expired = Job.objects.filter(state=state).alias(ended=Coalesce("finished_at", "created_at"))
        expired = expired.filter(ended__lt=cutoff)
        if dry_run:
            deleted[state] = expired.count()
            continue
        while pks := list(expired.order_by("pk").values_list("pk", flat=True)[:batch_size]):
            Job.objects.filter(pk__in=pks, state=state).delete()
            deleted[state] += len(pks)
    return {str(state): count for state, count in deleted.items()}
