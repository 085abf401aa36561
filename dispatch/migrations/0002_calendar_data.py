import csv
from datetime import date, time
from pathlib import Path

from django.db import migrations

HOLIDAYS = Path(__file__).resolve().parent.parent / "data" / "holidays.csv"


def load(apps, schema_editor):
    CalendarDay = apps.get_model("dispatch", "CalendarDay")
    WorkPeriod = apps.get_model("dispatch", "WorkPeriod")
    with HOLIDAYS.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            CalendarDay.objects.update_or_create(date=date.fromisoformat(row["date"]),
                                                 defaults={"kind": row["kind"], "name": row["name"]})
    if not WorkPeriod.objects.exists():
        WorkPeriod.objects.create(start=time(8, 30), end=time(12, 0))
        WorkPeriod.objects.create(start=time(14, 30), end=time(17, 30))


class Migration(migrations.Migration):
    dependencies = [("dispatch", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
