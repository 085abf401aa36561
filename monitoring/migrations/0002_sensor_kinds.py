from django.db import migrations


def load(apps, schema_editor):
    from monitoring.kinds import load_kinds

    load_kinds(apps.get_model("monitoring", "SensorKind"))


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
