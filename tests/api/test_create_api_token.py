"""`manage.py create_api_token`: shows a token once, stores its hash, lists and revokes."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from jobs_app.api.tokens import hash_token
from jobs_app.models import ApiToken

from .conftest import API

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_prints_a_working_token_once_and_stores_only_its_hash(staff):
    raw, note = run("ops", "--name", "grafana")
    row = ApiToken.objects.get(user=staff)
    assert row.key_hash == hash_token(raw) != raw
    assert (row.name, row.prefix) == ("grafana", raw[:8])
    assert "not shown again" in note
    assert Client(headers={"Authorization": f"Bearer {raw}"}).get(f"{API}/failed").status_code == 200


def test_revoke_all_of_a_users_tokens(staff):
    first, _ = run("ops")
    second, _ = run("ops")
    out, _ = run("ops", "--revoke")
    assert out == "Revoked 2 token(s) of 'ops'."
    for raw in (first, second):
        assert Client(headers={"Authorization": f"Bearer {raw}"}).get(f"{API}/failed").status_code == 401


def test_revoke_one_token_by_its_prefix(staff):
    kept, _ = run("ops")
    revoked, _ = run("ops")
    run("ops", "--revoke", revoked[:8])
    assert Client(headers={"Authorization": f"Bearer {kept}"}).get(f"{API}/failed").status_code == 200
    assert Client(headers={"Authorization": f"Bearer {revoked}"}).get(f"{API}/failed").status_code == 401


def test_revoking_an_unknown_prefix_is_an_error(staff):
    with pytest.raises(CommandError, match="no active token starting with 'zzzz'"):
        run("ops", "--revoke", "zzzz")


def test_list_shows_prefixes_and_status_never_tokens(staff):
    raw, _ = run("ops", "--name", "ci")
    run("ops", "--revoke")
    out, _ = run("ops", "--list")
    assert raw[:8] in out and "ci" in out and "revoked" in out
    assert raw not in out


def test_unknown_user_is_an_error():
    with pytest.raises(CommandError, match="No user 'ghost'"):
        run("ghost")


def test_warns_when_the_user_is_not_staff(outsider):
    _, note = run("outsider")
    assert "not an active staff user" in note
