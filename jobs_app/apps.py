from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class JobsAppConfig(AppConfig):
    name = "jobs_app"
    verbose_name = _("Jobs")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .registry import autodiscover

        autodiscover()
        if getattr(settings, "TASKS", None):  # django.tasks in use (always so on Django 6)
            from .backends import autodiscover_tasks

            autodiscover_tasks()
