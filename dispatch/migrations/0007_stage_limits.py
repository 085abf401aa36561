from django.db import migrations

DEFAULTS = [("register", "", 2), ("register", "emergency", 0.25), ("register", "urgent", 0.5),
            ("dispatch", "", 1), ("dispatch", "emergency", 0.25), ("dispatch", "urgent", 0.5),
            ("verify", "", 6.5), ("verify", "emergency", 1), ("verify", "urgent", 2)]


def load(apps, schema_editor):
    StageLimit = apps.get_model("dispatch", "StageLimit")
    for stage, urgency, hours in DEFAULTS:
        StageLimit.objects.get_or_create(stage=stage, urgency=urgency, defaults={"hours": hours})


class Migration(migrations.Migration):
    dependencies = [("dispatch", "0006_stagelimit")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
