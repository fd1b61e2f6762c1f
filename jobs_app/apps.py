from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class JobsAppConfig(AppConfig):
    name = "jobs_app"
    verbose_name = _("Jobs")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .backends import autodiscover_tasks
        from .registry import autodiscover

        autodiscover()
        autodiscover_tasks()
