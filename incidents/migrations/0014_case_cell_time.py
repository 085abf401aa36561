"""A cell's cases by time (the dashboard's choropleth of cells counts them from the index alone), in place of the
foreign key's own index on the cell, which it leads with. The foreign key itself is left as it is: Django would
drop and re-make it (checking every case again) only to record that it has no index of its own."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("grids", "0005_active_generation_made_when_missing"),
        ("incidents", "0013_partitioned_cases"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["cell", "created_at"], name="case_cell_time_idx"),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="case",
                    name="cell",
                    field=models.ForeignKey(blank=True, db_index=False, null=True,
                                            on_delete=django.db.models.deletion.PROTECT, related_name="cases",
                                            to="grids.cell", verbose_name="cell"),
                ),
            ],
            database_operations=[
                # The name Django gave the index when it made the foreign key (kept through migration 0013).
                migrations.RunSQL('DROP INDEX IF EXISTS "incidents_case_cell_id_35268a60"',
                                  reverse_sql='CREATE INDEX "incidents_case_cell_id_35268a60" ON "incidents_case" '
                                              '("cell_id")'),
            ],
        ),
    ]
