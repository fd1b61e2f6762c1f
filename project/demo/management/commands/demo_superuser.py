from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

USERNAME = "admin"
PASSWORD = "admin"


class Command(BaseCommand):
    help = "For make run: create the demo superuser on the first run and print its login."

    def handle(self, *args, **options):
        User = get_user_model()
        if not User.objects.filter(username=USERNAME).exists():
            User.objects.create_superuser(USERNAME, "admin@example.com", PASSWORD)
            self.stdout.write(self.style.SUCCESS("Created the demo superuser."))
        self.stdout.write(
            f"Admin: http://127.0.0.1:8000/admin/  login: {USERNAME} / {PASSWORD} (created on the first run)"
        )
