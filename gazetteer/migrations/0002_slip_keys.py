"""Names said with one character wrong, found by equality: each name's "slip keys" — the name with one character
replaced by a mark, once per character ("建 * 北 路" for 建设北路) — in a generated column with a GIN index, so a
query with one wrong character meets its name on the key of that character, as a spelling corrector's deletion
keys do (SymSpell), instead of a trigram search that hands back hundreds of names alike to recheck. Names of
fewer than three characters get none: one of two wrong leaves a key that half the city's names share."""

from django.db import migrations

SQL = """
CREATE FUNCTION gazetteer_slip_keys(t text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN cardinality(w) < 3 OR cardinality(w) > 24 THEN '{}'::text[] ELSE
        ARRAY(SELECT array_to_string(w[:i - 1] || '*'::text || w[i + 1:], ' ')
              FROM generate_series(1, cardinality(w)) i) END
    FROM (SELECT string_to_array(t, ' ') AS w) s
$$;

ALTER TABLE gazetteer_name ADD COLUMN slips text[] GENERATED ALWAYS AS (gazetteer_slip_keys(text)) STORED;
CREATE INDEX gazetteer_name_slips ON gazetteer_name USING gin (slips) WITH (fastupdate = off);

-- GIN's fast update parks new entries in a pending list that every search then reads whole, until a vacuum merges
-- them: after an import, with autovacuum off or not yet by, a name search read hundreds of pages (16 ms where the
-- merged index takes 0.1). Names come in imports, rarely: each goes into the indexes as it is written.
ALTER INDEX gazetteer_name_text_trgm SET (fastupdate = off);
ALTER INDEX gazetteer_name_sound_trgm SET (fastupdate = off);
SELECT gin_clean_pending_list('gazetteer_name_text_trgm'), gin_clean_pending_list('gazetteer_name_sound_trgm');

-- Names one character away from the query (or the query with nothing dropped), as alike as their characters are.
CREATE FUNCTION gazetteer_names_slipped(q text, raw text, roads boolean, n int)
RETURNS TABLE (aid bigint, rid bigint, sim float8) LANGUAGE sql STABLE ROWS 10 AS $$
    SELECT g.address_id, g.road_id, max(greatest(similarity(g.text, q), similarity(g.text, raw)))::float8
    FROM gazetteer_name g
    WHERE g.slips && (gazetteer_slip_keys(q) || gazetteer_slip_keys(raw))
      AND (CASE WHEN roads THEN g.road_id IS NOT NULL ELSE g.address_id IS NOT NULL END)
    GROUP BY 1, 2 ORDER BY 3 DESC LIMIT n
$$;
"""

REVERSE = """
ALTER INDEX gazetteer_name_text_trgm RESET (fastupdate);
ALTER INDEX gazetteer_name_sound_trgm RESET (fastupdate);
DROP FUNCTION IF EXISTS gazetteer_names_slipped(text, text, boolean, int);
ALTER TABLE gazetteer_name DROP COLUMN IF EXISTS slips;
DROP FUNCTION IF EXISTS gazetteer_slip_keys(text);
"""


class Migration(migrations.Migration):

    dependencies = [
        ("gazetteer", "0001_initial"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
