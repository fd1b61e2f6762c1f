"""GET metrics, queues/<name>/stats and health: the figures come from jobs_app.stats."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rq import Worker

from jobs_app import transport
from jobs_app.models import JobAttempt
from tests.factories import JobAttemptFactory, JobFactory

from .conftest import API

pytestmark = pytest.mark.django_db

BROKEN_REDIS = {
    name: {"URL": "redis://127.0.0.1:1/0", "SERIALIZER": "rq.serializers.JSONSerializer"}
    for name in ("default", "email", "cleanup", "notification")
}


@pytest.fixture
def worker_alive(redis):
    """A worker registered in Redis (heartbeat fresh) that listens to `default` only."""
    worker = Worker(transport.rq_queue_names("default"), connection=redis, name="worker-1")
    worker.register_birth()
    yield worker
    worker.register_death()


def test_metrics_counts_states_failures_queue_lengths_and_workers(api, redis, worker_alive):
    JobFactory(failed=True, queue="email", handler="email.send")
    JobFactory(dead=True)
    JobFactory(state="queued")
    recent = JobFactory(failed=True, handler="email.send", queue="email")
    JobAttemptFactory(job=recent)
    JobAttemptFactory(job=recent, outcome=JobAttempt.Outcome.KILLED)
    JobAttemptFactory(job=recent, outcome=JobAttempt.Outcome.SUCCEEDED)
    JobAttemptFactory(job=JobFactory(failed=True, handler="old.one"), finished_at=timezone.now() - timedelta(days=2))
    transport.rq_queue("email", "high").enqueue_call("jobs_app.runner.execute", args=["x"])

    body = api.get(f"{API}/metrics").json()
    assert body["states"] == {
        "scheduled": 0,
        "queued": 1,
        "running": 0,
        "succeeded": 0,
        "failed": 3,
        "dead": 1,
        "cancelled": 0,
    }
    assert body["queues"]["email"]["failed"] == 2
    assert body["queues"]["default"]["dead"] == 1
    assert set(body["queues"]) == {"default", "email", "cleanup", "notification"}
    assert body["failures_last_24h"]["by_handler"] == {"email.send": 2}
    assert body["rq_queue_lengths"] == {"default": 0, "email": 1, "cleanup": 0, "notification": 0}
    assert body["workers"] == {"default": ["worker-1"], "email": [], "cleanup": [], "notification": []}
    assert body["workers_alive"] == 1


def test_queue_stats_counts_one_queue(api):
    for state in ("queued", "queued", "running", "succeeded", "scheduled", "cancelled"):
        JobFactory(state=state, queue="email")
    JobFactory(failed=True, queue="email")
    JobFactory(dead=True, queue="email")
    JobFactory(failed=True, queue="default")
    response = api.get(f"{API}/queues/email/stats")
    assert response.status_code == 200
    assert response.json() == {"waiting": 2, "active": 1, "completed": 1, "failed": 1, "delayed": 1, "dead": 1}


def test_queue_stats_of_a_queue_not_in_settings_is_404(api):
    JobFactory(queue="gone")
    response = api.get(f"{API}/queues/gone/stats")
    assert response.status_code == 404
    assert response.json() == {"error": "Queue 'gone' not found"}


def test_health_is_ok_when_every_queue_with_waiting_jobs_has_a_worker(api, worker_alive):
    JobFactory(state="queued", queue="default")
    JobFactory(failed=True, queue="email")  # failed jobs wait for nobody
    response = api.get(f"{API}/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["reasons"] == []


def test_health_is_503_when_jobs_wait_in_a_queue_no_worker_listens_to(api, worker_alive):
    JobFactory(state="queued", queue="email")
    JobFactory(state="queued", queue="email")
    response = api.get(f"{API}/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["reasons"] == ["Queue 'email' has 2 waiting job(s) and no worker alive"]
    assert body["error"] == body["reasons"][0]


def test_health_is_503_with_a_reason_when_redis_is_unreachable(api):
    JobFactory(state="queued")
    with override_settings(RQ_QUEUES=BROKEN_REDIS):
        response = api.get(f"{API}/health")
    assert response.status_code == 503
    assert response.json()["reasons"][0].startswith("Redis is unreachable")


def test_metrics_is_503_json_when_redis_is_unreachable(api):
    with override_settings(RQ_QUEUES=BROKEN_REDIS):
        response = api.get(f"{API}/metrics")
    assert response.status_code == 503
    assert response.json()["error"].startswith("Redis is unreachable")
