import uuid

import psycopg2
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from citygrid import dbroles
from citygrid.models import AuditEvent
from incidents import intake, lifecycle
from incidents.models import CaseLog, Photo
from tests.conftest import jpeg, point_in


def _connect(dbname, kind=dbroles.RUNTIME):
    return dbroles.connect(kind, dbname)


@pytest.mark.django_db(transaction=True)
def test_a_backup_restores_into_a_fresh_database_with_every_case_log_and_photo(people, tmp_path, capsys):
    lon, lat = point_in(people["a"])
    case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0102", source="inspector",
                                       photos=[SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg")]),
                         reporter=people["inspector"]).case
    lifecycle.register(case, people["operator"])
    photo = Photo.objects.get(case=case)
    log = list(CaseLog.objects.order_by("id").values_list("id", "case_id", "action", "from_status", "to_status",
                                                             "actor_id", "note"))
    trail = list(AuditEvent.objects.order_by("id").values_list("id", "username", "action", "target", "result"))
    assert len(log) >= 3 and len(trail) >= 3

    call_command("backup", "--output", str(tmp_path / "backups"))
    folder = capsys.readouterr().out.strip()
    name = f"citygrid_restore_{uuid.uuid4().hex[:8]}"
    media = tmp_path / "restored-media"
    try:
        call_command("restore", folder, "--database", name, "--media-root", str(media))
        conn = _connect(name)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT number, ST_X(location), ST_Y(location) FROM incidents_case")
            [(number, x, y)] = cur.fetchall()
            assert (number, x, y) == (case.number, pytest.approx(lon), pytest.approx(lat))
            # Every log entry and every audit event, as they were, not only the first few.
            cur.execute("SELECT id, case_id, action, from_status, to_status, actor_id, note FROM incidents_caselog "
                        "ORDER BY id")
            assert cur.fetchall() == log
            cur.execute("SELECT id, username, action, target, result FROM citygrid_auditevent ORDER BY id")
            assert cur.fetchall()[: len(trail)] == trail
            cur.execute("SELECT days FROM citygrid_audit_retention")
            assert cur.fetchall() == [(180,)]
            cur.execute("SELECT image FROM incidents_photo")
            [(image,)] = cur.fetchall()
            cur.execute("SELECT count(*) FROM grids_cell")
            assert cur.fetchone()[0] > 0
            with pytest.raises(psycopg2.Error, match="permission denied"):  # the runtime role's grants restored
                cur.execute("DELETE FROM incidents_caselog")
        conn.close()
        conn = _connect(name, dbroles.OWNER)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = "
                        "'public'::regnamespace AND relname LIKE 'incidents%'")
            assert cur.fetchall() == [(dbroles.role_name(dbroles.OWNER),)]
            cur.execute("SELECT count(*) FROM spatial_ref_sys")
            assert cur.fetchone()[0] > 8000  # PostGIS's own, made by the administrator
            with pytest.raises(psycopg2.Error, match="append-only"):  # and the owner meets the triggers
                cur.execute("DELETE FROM incidents_caselog")
        conn.close()
        conn = _connect(name, dbroles.OWNER)
        with conn, conn.cursor() as cur, pytest.raises(psycopg2.Error, match="append-only"):
            cur.execute("UPDATE citygrid_auditevent SET result = 'x'")
        conn.close()
        conn = _connect(name, dbroles.OWNER)
        # the retention check restored too
        with conn, conn.cursor() as cur, pytest.raises(psycopg2.Error, match="days_check|violates check"):
            cur.execute("UPDATE citygrid_audit_retention SET days = 30")
        conn.close()
        assert image == photo.image.name and (media / image).read_bytes() == photo.image.read()
        with pytest.raises(CommandError, match="already exists"):
            call_command("restore", folder, "--database", name, "--media-root", str(media))
    finally:
        dbroles.drop_database(name)


def test_a_damaged_backup_is_refused(tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "database.dump").write_bytes(b"x")
    (folder / "media.tar.gz").write_bytes(b"y")
    (folder / "manifest.json").write_text('{"files": {"database.dump": "0", "media.tar.gz": "0"}, "counts": {}}')
    with pytest.raises(CommandError, match="checksum"):
        call_command("restore", str(folder), "--database", "nope", "--media-root", str(tmp_path / "m"))
