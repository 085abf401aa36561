"""The catalogue's 监测设备故障 (SJ0604), which a silent sensor's maintenance case is filed under, for databases
whose catalogue was loaded before the class existed (a new database gets it from the catalogue file)."""

from django.db import migrations


def add(apps, schema_editor):
    Category = apps.get_model("incidents", "Category")
    TimeLimit = apps.get_model("incidents", "TimeLimit")
    parent = Category.objects.filter(code="SJ06").first()
    if parent is None:
        return
    category, _ = Category.objects.get_or_create(
        code="SJ0604", defaults={"kind": "event", "name_zh": "监测设备故障", "name_en": "Monitoring device fault",
                                 "parent": parent, "default_bureau_kind": "", "photo_required": False})
    for urgency, amount, unit in (("urgent", 1, "days"), ("normal", 3, "days")):
        TimeLimit.objects.get_or_create(category=category, urgency=urgency, defaults={"amount": amount, "unit": unit})


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0006_reading_key_by_time"), ("incidents", "0010_case_component")]
    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
