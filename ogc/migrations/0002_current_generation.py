"""The grid's collections serve the current boundary generation (grids.generations): a re-gridding or a new
import of boundaries makes a new generation, and codes repeat across generations; the older ones stay queryable
through the grid API's ?generation=N, not here, where a code must name one feature."""

from django.db import migrations

AREA_VIEW = """
CREATE OR REPLACE VIEW ogc_{name} AS
SELECT a.code, a.name, p.code AS parent_code, a.updated_at, a.geom
FROM grids_area a LEFT JOIN grids_area p ON p.id = a.parent_id
WHERE a.level = {level} AND a.is_current
"""

CELL_VIEW = """
CREATE OR REPLACE VIEW ogc_cell AS
SELECT c.code, m.code AS community_code, s.code AS street_code, d.code AS district_code, c.updated_at, c.geom
FROM grids_cell c JOIN grids_area m ON m.id = c.community_id JOIN grids_area s ON s.id = c.street_id
JOIN grids_area d ON d.id = c.district_id
WHERE c.is_current
"""


def _views(current: bool) -> str:
    sql = [AREA_VIEW.format(name=name, level=level) for name, level in (("district", 2), ("street", 3),
                                                                          ("community", 4))] + [CELL_VIEW]
    if not current:
        sql = [s.replace(" AND a.is_current", "").replace("WHERE c.is_current\n", "") for s in sql]
    return "\n;\n".join(sql)


class Migration(migrations.Migration):
    dependencies = [("ogc", "0001_feature_views"), ("grids", "0004_generations")]
    operations = [migrations.RunSQL(_views(True), _views(False))]
