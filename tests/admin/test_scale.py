"""The lists at scale: the same few queries whatever the table size, and the failed list read through its index.

A few thousand rows keep this fast; 200,000 rows are covered by the benchmark.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Max, Min
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs_app.admin.pagination import LargeTablePaginator
from jobs_app.models import FailedJob, Job

pytestmark = pytest.mark.django_db

MAX_QUERIES = 12
PAGES = [
    "/admin/jobs_app/job/",
    "/admin/jobs_app/job/?state=failed&queue=default&handler=test.add",
    "/admin/jobs_app/job/?q=boom",
    "/admin/jobs_app/failedjob/",
    "/admin/jobs_app/failedjob/?state=dead&error_type=RuntimeError&failed_at__isnull=False",
    "/admin/jobs_app/failedjob/?failed_at__year=2030",
]


def add_jobs(count: int) -> None:
    now = timezone.now()
    states = [Job.State.SUCCEEDED, Job.State.FAILED, Job.State.DEAD, Job.State.QUEUED]
    Job.objects.bulk_create(
        [
            Job(
                id=uuid.uuid4(),
                handler=f"test.handler{index % 7}",
                queue="default",
                state=states[index % 4],
                attempts=1,
                created_at=now - timedelta(seconds=index),
                failed_at=now - timedelta(seconds=index) if index % 4 in (1, 2) else None,
                error_type="RuntimeError" if index % 4 in (1, 2) else "",
                error_message="boom" if index % 4 in (1, 2) else "",
            )
            for index in range(count)
        ],
        batch_size=1000,
    )


def queries_per_page(client) -> dict[str, int]:
    counts = {}
    for url in PAGES:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts[url] = len(queries)
    return counts


def test_lists_use_the_same_bounded_number_of_queries_at_two_sizes(admin_client, django_assert_max_num_queries):
    add_jobs(200)
    small = queries_per_page(admin_client)
    add_jobs(4000)
    with django_assert_max_num_queries(MAX_QUERIES * len(PAGES)):
        large = queries_per_page(admin_client)
    assert large == small
    assert max(large.values()) <= MAX_QUERIES


def test_no_second_full_count_on_a_page_load(admin_client):
    add_jobs(300)
    with CaptureQueriesContext(connection) as queries:
        admin_client.get("/admin/jobs_app/failedjob/")
    counts = [query["sql"] for query in queries if "COUNT(" in query["sql"].upper()]
    assert len(counts) == 1
    assert "WHERE" in counts[0].upper()


def test_the_failed_list_reads_through_the_state_index(rf, admin_user):
    from django.contrib import admin

    add_jobs(500)
    request = rf.get("/admin/jobs_app/failedjob/")
    request.user = admin_user
    model_admin = admin.site._registry[FailedJob]
    changelist = model_admin.get_changelist_instance(request)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Statistics of these rows, not of an earlier test's (with those the planner may pick any small index
            # that holds the failed rows). A few hundred rows: PostgreSQL would rightly scan the table; ask which
            # index it would use.
            cursor.execute("ANALYZE jobs_app_job")
            cursor.execute("SET LOCAL enable_seqscan = off")
    plan = changelist.queryset[:50].explain()
    # Any of the indexes on state (SQLite treats the (state, ...) ones as equal for `state IN (...)`; PostgreSQL
    # may take the partial failure index, depending on its statistics): each means no table scan.
    # SQLite says "USING INDEX name", PostgreSQL "Bitmap Index Scan on name" or "Index Scan using name on table".
    assert re.search(r"(USING INDEX|Index.* on|Index Scan using) jobs_(state_|failed_list)", plan), plan
    assert "SCAN jobs_app_job" not in plan and "Seq Scan" not in plan


def test_an_unfiltered_list_of_a_large_postgresql_table_uses_the_estimate():
    paginator = LargeTablePaginator(Job.objects.all(), 50)
    add_jobs(10)
    if connection.vendor != "postgresql":
        assert paginator.count == 10  # exact elsewhere: SQLite counts a narrow index quickly
        return
    with connection.cursor() as cursor:
        cursor.execute("UPDATE pg_class SET reltuples = 250000 WHERE oid = 'jobs_app_job'::regclass")
    assert paginator.count == 250000
    assert LargeTablePaginator(Job.objects.filter(state="failed"), 50).count == 3  # exact


def test_the_date_hierarchy_finds_the_first_and_last_failure_with_one_seek_each(admin_client):
    add_jobs(400)
    failed_at = FailedJob.objects.exclude(failed_at=None).values_list("failed_at", flat=True)
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get("/admin/jobs_app/failedjob/").status_code == 200
    extremes = [query["sql"] for query in queries if "MIN(" in query["sql"] or "MAX(" in query["sql"]]
    # SQLite scans every row for MIN and MAX in one query, and seeks the index for either alone.
    assert extremes and not any("MIN(" in sql and "MAX(" in sql for sql in extremes)
    assert FailedJob.objects.aggregate(first=Min("failed_at"), last=Max("failed_at")) == {
        "first": min(failed_at),
        "last": max(failed_at),
    }


def add_grouped_failures(groups: int, jobs_per_group: int) -> list[str]:
    """`groups` failure groups with `jobs_per_group` more failed jobs each; their fingerprints."""
    from jobs_app.models import FailureGroup

    now = timezone.now()
    fingerprints = [f"{index:016x}" for index in range(groups)]
    FailureGroup.objects.bulk_create(
        [
            FailureGroup(
                fingerprint=value,
                handler=f"test.handler{index % 7}",
                error_type="shop.errors.Upstream",
                message=f"upstream {index} returned <n>",
                first_seen=now - timedelta(hours=2),
                last_seen=now - timedelta(seconds=index),
                hourly={str(int(now.timestamp() // 3600)): index},
            )
            for index, value in enumerate(fingerprints)
        ],
        ignore_conflicts=True,
    )
    Job.objects.bulk_create(
        [
            Job(
                id=uuid.uuid4(),
                handler="test.add",
                queue="default",
                state=Job.State.FAILED,
                failed_at=now,
                error_type="Upstream",
                fingerprint=value,
            )
            for value in fingerprints
            for _ in range(jobs_per_group)
        ],
        batch_size=1000,
    )
    return fingerprints


def test_the_failure_group_pages_use_the_same_queries_at_two_sizes(admin_client):
    fingerprints = add_grouped_failures(60, 1)
    pages = [
        "/admin/jobs_app/failuregroup/",
        "/admin/jobs_app/failuregroup/?status__exact=open&handler=test.handler1&q=upstream",
        f"/admin/jobs_app/failuregroup/{fingerprints[0]}/change/",
        f"/admin/jobs_app/failedjob/?fingerprint={fingerprints[0]}",
    ]

    def queries() -> dict[str, int]:
        counts = {}
        for url in pages:
            with CaptureQueriesContext(connection) as captured:
                assert admin_client.get(url).status_code == 200
            counts[url] = len(captured)
        return counts

    queries()  # warm the caches (content types) that a first page load fills
    small = queries()
    add_grouped_failures(60, 40)
    assert queries() == small
    assert max(small.values()) <= MAX_QUERIES
