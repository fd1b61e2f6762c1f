"""Make, list or revoke a user's bearer tokens for the JSON API."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from jobs_app.api.tokens import issue_token, revoke_tokens
from jobs_app.management.options import TEXT, Text
from jobs_app.models import ApiToken

ALL = "*"


class Command(BaseCommand):
    help = (
        "Make a bearer token for the jobs API and print it once (only its hash is stored). "
        "--revoke [PREFIX] revokes the user's tokens instead (one, given its first characters); --list lists them."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username", type=TEXT)
        parser.add_argument(
            "--name", type=Text(max_length=100), default="", help="A label to tell the token apart, e.g. 'grafana'."
        )
        action = parser.add_mutually_exclusive_group()
        action.add_argument(
            "--revoke",
            nargs="?",
            type=TEXT,
            const=ALL,
            metavar="PREFIX",
            help="Revoke the user's active tokens, or only the one whose prefix is PREFIX.",
        )
        action.add_argument(
            "--list",
            action="store_true",
            dest="list_tokens",
            help="List the user's tokens (never the tokens themselves).",
        )

    def handle(self, *args, username: str, name: str, revoke: str | None, list_tokens: bool, **options) -> None:
        User = get_user_model()
        try:
            user = User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist:
            raise CommandError(f"No user {username!r}") from None
        if list_tokens:
            self._list(user)
        elif revoke is not None:
            revoked = revoke_tokens(user, prefix=None if revoke == ALL else revoke)
            if not revoked and revoke != ALL:
                raise CommandError(f"{username!r} has no active token starting with {revoke!r}")
            self.stdout.write(self.style.SUCCESS(f"Revoked {revoked} token(s) of {username!r}."))
        else:
            if not user.is_staff or not user.is_active:
                self.stderr.write(
                    self.style.WARNING(f"{username!r} is not an active staff user: the API will refuse this token.")
                )
            token, raw = issue_token(user, name=name)
            self.stdout.write(raw)
            self.stderr.write(
                f"API token {token.prefix}… for {username!r}: copy it now, it is not shown again. "
                f"Send it as 'Authorization: Bearer <token>'. Revoke it with --revoke {token.prefix}."
            )

    def _list(self, user) -> None:
        tokens = ApiToken.objects.filter(user=user)
        if not tokens:
            self.stdout.write("No tokens.")
        for token in tokens:
            status = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            self.stdout.write(
                f"{token.prefix}…  {token.name or '-'}  created {token.created_at:%Y-%m-%d %H:%M}  "
                f"last used {used}  {status}"
            )
