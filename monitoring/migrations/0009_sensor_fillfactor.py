"""Room on every page of the sensor table for its rows' next versions: the ingest rewrites a sensor's last reading
with every batch, and an update that fits on its page (and changes no indexed column) is a HOT update — no entry
in the table's nine indexes, the GiST among them. Without the room, each update wrote every index and the table
bloated (measured: 188 MB and 0.3 ms per updated row for 10,000 sensors under load). Autovacuum, told to come
sooner, keeps the room free. Pages already full get the room at their next rewrite (VACUUM FULL / CLUSTER)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0008_rate_of_change")]
    operations = [migrations.RunSQL(
        "ALTER TABLE monitoring_sensor SET (fillfactor = 40, autovacuum_vacuum_scale_factor = 0.02, "
        "autovacuum_vacuum_cost_delay = 0)",
        "ALTER TABLE monitoring_sensor RESET (fillfactor, autovacuum_vacuum_scale_factor, autovacuum_vacuum_cost_delay)")]
