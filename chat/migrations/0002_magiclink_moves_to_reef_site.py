# The log-in moved to reef_site (reef_site.models.MagicLink): the model leaves the chat's
# state; its table, chat_magiclink, stays where it is and reef_site's model uses it.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="MagicLink")],
            database_operations=[],
        ),
    ]
