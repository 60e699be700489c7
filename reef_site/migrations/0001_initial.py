# The log-in links, moved here from the chat app (chat 0002): the table chat_magiclink, made
# by chat 0001, is kept; only the model's state is created here.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("chat", "0002_magiclink_moves_to_reef_site"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="MagicLink",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("secret_hash", models.CharField(editable=False, max_length=64, unique=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created")),
                        ("expires_at", models.DateTimeField(verbose_name="expires")),
                        ("used_at", models.DateTimeField(blank=True, null=True, verbose_name="used")),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="magic_links",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "magic link",
                        "verbose_name_plural": "magic links",
                        "ordering": ["-created_at"],
                        "db_table": "chat_magiclink",
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
