"""The database views OGC API – Features serves (pygeoapi's PostgreSQL provider reads tables or views): one per
collection, each holding only the columns meant to leave. The public cases' view applies the publication rule
(incidents.publication) in SQL — the most specific rule per subclass and source, unpublished when none covers
a case — and places each case where the rule says (the exact point, its cell's or its street's point on the
surface), as Open311 and the public map do; tests hold it to `publication.disclose`. Read-only for the runtime
role (citygrid.dbroles.TABLE_GRANTS): a simple view is updatable, so it must not get the operational grants."""

from django.db import migrations

AREA_VIEW = """
CREATE VIEW ogc_{name} AS
SELECT a.code, a.name, p.code AS parent_code, a.updated_at, a.geom
FROM grids_area a LEFT JOIN grids_area p ON p.id = a.parent_id
WHERE a.level = {level}
"""

CELL_VIEW = """
CREATE VIEW ogc_cell AS
SELECT c.code, m.code AS community_code, s.code AS street_code, d.code AS district_code, c.updated_at, c.geom
FROM grids_cell c JOIN grids_area m ON m.id = c.community_id JOIN grids_area s ON s.id = c.street_id
JOIN grids_area d ON d.id = c.district_id
"""

COMPONENT_VIEW = """
CREATE VIEW ogc_component AS
SELECT c.code, c.subclass, c.name, c.status, c.accuracy, c.survey_date, b.code AS bureau_code, b.name AS bureau,
       c.owner, c.maintainer, cell.code AS cell_code, c.updated_at, c.geom
FROM assets_component c LEFT JOIN grids_bureau b ON b.id = c.bureau_id LEFT JOIN grids_cell cell ON cell.id = c.cell_id
"""

PIPE_VIEW = """
CREATE VIEW ogc_pipe AS
SELECT s.code, n.code AS network_code, n.kind, s.material, s.diameter_mm, s.pressure_class, s.depth_start_m,
       s.depth_end_m, s.year_laid, s.owner, s.status, s.length_m, s.geom
FROM assets_pipesegment s JOIN assets_pipenetwork n ON n.id = s.network_id
"""

# The publication rule in SQL (incidents.publication.Rules.decide): subclass before major class before every
# category, at each the case's source before every source. Only cases of a subclass (one with a major class) are
# published, as Rules.published() says. Never the reporter, contact, address (unless exact), notes or photos.
PUBLIC_CASE_VIEW = """
CREATE VIEW ogc_public_case AS
SELECT c.number, cat.code AS category, cat.name_zh AS category_name, c.status,
       CASE WHEN c.status IN ('closed', 'rejected', 'cancelled', 'merged') THEN 'closed' ELSE 'open' END
           AS open311_status,
       rule.precision,
       CASE WHEN rule.precision = 'exact' AND c.address <> '' THEN c.address
            WHEN rule.precision = 'street' THEN concat_ws(' ', d.name, s.name)
            ELSE concat_ws(' ', d.name, s.name, m.name) END AS place,
       CASE WHEN rule.show_description THEN c.description ELSE '' END AS description,
       coalesce(b.name, '') AS bureau,
       c.created_at, c.updated_at,
       CASE WHEN rule.precision = 'exact' THEN c.location
            WHEN rule.precision = 'cell' AND c.cell_id IS NOT NULL THEN ST_PointOnSurface(cell.geom)
            WHEN rule.precision = 'street' THEN ST_PointOnSurface(coalesce(s.geom, d.geom))
            ELSE ST_PointOnSurface(coalesce(m.geom, s.geom, d.geom)) END::geometry(Point, 4326) AS geom
FROM incidents_case c
JOIN incidents_category cat ON cat.id = c.category_id AND cat.parent_id IS NOT NULL
CROSS JOIN LATERAL (
    SELECT r.published, r.precision, r.show_description FROM incidents_publicationrule r
    WHERE (r.category_id = c.category_id OR r.category_id = cat.parent_id OR r.category_id IS NULL)
      AND (r.source = c.source OR r.source = '')
    ORDER BY CASE WHEN r.category_id = c.category_id THEN 0 WHEN r.category_id = cat.parent_id THEN 1 ELSE 2 END,
             r.source = ''
    LIMIT 1) rule
LEFT JOIN grids_cell cell ON cell.id = c.cell_id
LEFT JOIN grids_area m ON m.id = c.community_id
LEFT JOIN grids_area s ON s.id = c.street_id
LEFT JOIN grids_area d ON d.id = c.district_id
LEFT JOIN grids_bureau b ON b.id = c.bureau_id
WHERE rule.published
"""

VIEWS = ("ogc_district", "ogc_street", "ogc_community", "ogc_cell", "ogc_component", "ogc_pipe", "ogc_public_case")


class Migration(migrations.Migration):
    dependencies = [
        ("grids", "0003_lattice_names"),
        ("assets", "0003_pipes"),
        ("incidents", "0010_case_component"),
    ]

    operations = [
        migrations.RunSQL(
            "\n;\n".join([AREA_VIEW.format(name="district", level=2), AREA_VIEW.format(name="street", level=3),
                          AREA_VIEW.format(name="community", level=4), CELL_VIEW, COMPONENT_VIEW, PIPE_VIEW,
                          PUBLIC_CASE_VIEW]),
            "\n".join(f"DROP VIEW IF EXISTS {v};" for v in VIEWS)),
    ]
