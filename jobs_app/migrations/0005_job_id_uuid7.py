import uuid6
from django.db import migrations, models


class Migration(migrations.Migration):
    """New job ids are UUIDv7 (time-ordered). Only the model's Python default changes: the
    database stores no default for the column, so there is nothing to alter there (and SQLite
    would otherwise copy the whole table to "alter" it)."""

    dependencies = [
        ("jobs_app", "0004_failed_list_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="job",
                    name="id",
                    field=models.UUIDField(
                        default=uuid6.uuid7,
                        editable=False,
                        help_text="Also the RQ job id.",
                        primary_key=True,
                        serialize=False,
                    ),
                ),
            ],
        ),
    ]
