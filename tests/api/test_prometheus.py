"""GET /api/jobs/metrics/prometheus: the text exposition, read back with prometheus_client's own parser."""

from __future__ import annotations

import json
import sys

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from jobs_app import breaker, metrics, pauses, prometheus
from jobs_app.models import FailureGroup
from jobs_app.registry import all_handlers
from tests.factories import FailureGroupFactory, JobFactory
from tests.polling import wait_for

from .conftest import API

pytestmark = pytest.mark.django_db

URL = f"{API}/metrics/prometheus"


def scrape(client: Client) -> dict[str, dict[tuple, float]]:
    """Every sample of a scrape: {sample name: {sorted label items: value}}."""
    response = client.get(URL)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_every_figure_is_exposed_with_its_labels(api, redis, settings):
    settings.JOBS_APP = {**settings.JOBS_APP, "METRICS_CACHE_SECONDS": 0}
    JobFactory(failed=True, queue="email", handler="test.echo")
    JobFactory(dead=True)
    JobFactory(state="queued")
    metrics.record_attempt("test.add", "succeeded", 0.2)
    metrics.record_attempt("test.add", "failed", 3)
    breaker.Breaker("test-whatsapp").open()
    pauses.pause(pauses.QUEUE, "email", handlers=all_handlers())

    samples = scrape(api)

    jobs = samples["jobs_app_jobs"]
    assert jobs[(("queue", "email"), ("state", "failed"))] == 1
    assert jobs[(("queue", "default"), ("state", "queued"))] == 1
    assert jobs[(("queue", "default"), ("state", "succeeded"))] == 0
    assert samples["jobs_app_dead_last_hour"][()] == 1
    attempts = samples["jobs_app_attempts_total"]
    assert attempts[(("handler", "test.add"), ("outcome", "succeeded"))] == 1
    assert attempts[(("handler", "test.add"), ("outcome", "failed"))] == 1
    buckets = samples["jobs_app_attempt_duration_seconds_bucket"]
    assert buckets[(("handler", "test.add"), ("le", "0.25"))] == 1
    assert buckets[(("handler", "test.add"), ("le", "5.0"))] == 2
    assert buckets[(("handler", "test.add"), ("le", "+Inf"))] == 2
    assert samples["jobs_app_attempt_duration_seconds_count"][(("handler", "test.add"),)] == 2
    assert samples["jobs_app_attempt_duration_seconds_sum"][(("handler", "test.add"),)] == pytest.approx(3.2)
    assert samples["jobs_app_rq_queue_length"][(("queue", "default"),)] == 0
    assert samples["jobs_app_workers"][()] == 0
    assert samples["jobs_app_breaker_open"][(("breaker", "test-whatsapp"),)] == 1
    assert samples["jobs_app_paused"] == {(("kind", "queue"), ("name", "email")): 1}
    assert all(value in (0, 1) for value in samples["jobs_app_recurring_stale"].values())


def test_counters_only_grow_between_scrapes(api, redis):
    metrics.record_attempt("test.add", "succeeded", 0.1)
    first = scrape(api)["jobs_app_attempts_total"][(("handler", "test.add"), ("outcome", "succeeded"))]
    metrics.record_attempt("test.add", "succeeded", 0.1)
    second = scrape(api)["jobs_app_attempts_total"][(("handler", "test.add"), ("outcome", "succeeded"))]
    assert (first, second) == (1, 2)


def test_the_database_figures_are_reused_for_the_cache_period(api, redis, settings):
    settings.JOBS_APP = {**settings.JOBS_APP, "METRICS_CACHE_SECONDS": 60}
    JobFactory(state="queued")
    assert scrape(api)["jobs_app_jobs"][(("queue", "default"), ("state", "queued"))] == 1
    JobFactory(state="queued")
    assert scrape(api)["jobs_app_jobs"][(("queue", "default"), ("state", "queued"))] == 1  # the snapshot
    redis.delete(prometheus.SNAPSHOT_KEY)  # as if the period were over
    assert scrape(api)["jobs_app_jobs"][(("queue", "default"), ("state", "queued"))] == 2


@pytest.mark.django_db(transaction=True)
def test_a_stale_snapshot_is_answered_while_one_process_counts_again_in_the_background(api, redis, settings):
    settings.JOBS_APP = {**settings.JOBS_APP, "METRICS_CACHE_SECONDS": 60}
    queued = (("queue", "default"), ("state", "queued"))
    JobFactory(state="queued")
    assert scrape(api)["jobs_app_jobs"][queued] == 1
    JobFactory(state="queued")
    snapshot = json.loads(redis.get(prometheus.SNAPSHOT_KEY))
    redis.set(prometheus.SNAPSHOT_KEY, json.dumps({**snapshot, "at": snapshot["at"] - 61}))  # a period has passed

    assert scrape(api)["jobs_app_jobs"][queued] == 1  # answered at once, from the old snapshot
    wait_for(lambda: json.loads(redis.get(prometheus.SNAPSHOT_KEY))["at"] > snapshot["at"], message="the recount")
    assert scrape(api)["jobs_app_jobs"][queued] == 2


def test_extra_gauges_added_by_other_features_are_exposed(api, redis, monkeypatch):
    monkeypatch.setitem(prometheus.GAUGES, "myproject_invoices_unsent", ("Invoices not sent yet.", lambda: 3))
    assert scrape(api)["myproject_invoices_unsent"][()] == 3


def test_open_failure_groups_are_counted_and_resolved_or_muted_ones_are_not(api, redis):
    FailureGroupFactory.create_batch(2)
    FailureGroupFactory(status=FailureGroup.Status.RESOLVED)
    FailureGroupFactory(status=FailureGroup.Status.MUTED)
    assert scrape(api)["jobs_app_failure_groups_open"][()] == 2


def test_a_scrape_needs_a_token_unless_metrics_are_public(redis, settings):
    anonymous = Client()
    response = anonymous.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "error" in response.json()
    settings.JOBS_APP = {**settings.JOBS_APP, "METRICS_PUBLIC": True}
    assert "jobs_app_workers" in scrape(anonymous)


def test_without_prometheus_client_the_endpoint_says_how_to_install_it(api, redis, monkeypatch):
    # As if the package were not installed: a None entry makes `import prometheus_client` raise ImportError.
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    response = api.get(URL)
    assert response.status_code == 501
    assert "pip install" in response.json()["error"]
    assert "prometheus-client" in response.json()["error"]


def test_redis_down_is_a_json_503(api, settings):
    from jobs_app import transport

    settings.RQ_QUEUES = {
        name: {**config, "URL": "redis://127.0.0.1:9/0"} for name, config in settings.RQ_QUEUES.items()
    }
    try:
        response = api.get(URL)
    finally:
        transport.reset()
    assert response.status_code == 503
    assert "Redis" in response.json()["error"]
