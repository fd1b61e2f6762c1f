"""API tokens: made, looked up and revoked here. Only a token's SHA-256 is ever stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.utils import timezone

from ..models import ApiToken

if TYPE_CHECKING:
    # AUTH_USER_MODEL, as django-stubs reads it; staff users and permissions are what the API needs.
    from django.contrib.auth.models import User

# A token's `last_used_at` is written at most this often, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_MAX_TOKEN_LENGTH = 200


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def issue_token(user: User, name: str = "") -> tuple[ApiToken, str]:
    """Make a token for `user`; returns the row and the token itself, which is not kept anywhere."""
    raw = secrets.token_urlsafe(32)
    while raw.startswith("-"):  # so that `--revoke PREFIX` never looks like an option
        raw = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, key_hash=hash_token(raw), prefix=raw[:8], name=name)
    return token, raw


def revoke_tokens(user: User, prefix: str | None = None) -> int:
    """Revoke the user's active tokens (only the one starting with `prefix` when given); returns how many."""
    tokens = ApiToken.objects.filter(user=user, revoked_at__isnull=True)
    if prefix:
        tokens = tokens.filter(prefix=prefix[:8])
    return tokens.update(revoked_at=timezone.now())


def user_for_token(raw: str) -> User | None:
    """The active user holding this unrevoked token, or None; notes when the token was last used."""
    if not raw or len(raw) > _MAX_TOKEN_LENGTH:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_token(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
