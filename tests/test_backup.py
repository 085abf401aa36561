import uuid

import psycopg2
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from incidents import intake, lifecycle
from incidents.models import Photo
from tests.conftest import jpeg, point_in


def _connect(dbname):
    db = settings.DATABASES["default"]
    params = {k: v for k, v in {"host": db.get("HOST"), "port": db.get("PORT"), "user": db.get("USER"),
                                "password": db.get("PASSWORD")}.items() if v}
    return psycopg2.connect(dbname=dbname, **params)


@pytest.mark.django_db(transaction=True)
def test_a_backup_restores_into_a_fresh_database_with_every_case_log_and_photo(people, tmp_path, capsys):
    lon, lat = point_in(people["a"])
    case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0102", source="inspector",
                                       photos=[SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg")]),
                         reporter=people["inspector"]).case
    lifecycle.register(case, people["operator"])
    photo = Photo.objects.get(case=case)

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
            cur.execute("SELECT action FROM incidents_caselog WHERE case_id = %s ORDER BY id", [case.pk])
            assert [a for (a,) in cur.fetchall()][:3] == ["report", "register", "route"]
            cur.execute("SELECT image FROM incidents_photo")
            [(image,)] = cur.fetchall()
            cur.execute("SELECT count(*) FROM grids_cell")
            assert cur.fetchone()[0] > 0
            with pytest.raises(psycopg2.Error, match="append-only"):  # the restored log is still protected
                cur.execute("DELETE FROM incidents_caselog")
        conn.close()
        assert image == photo.image.name and (media / image).read_bytes() == photo.image.read()
        with pytest.raises(CommandError, match="already exists"):
            call_command("restore", folder, "--database", name, "--media-root", str(media))
    finally:
        conn = _connect("postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()


def test_a_damaged_backup_is_refused(tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "database.dump").write_bytes(b"x")
    (folder / "media.tar.gz").write_bytes(b"y")
    (folder / "manifest.json").write_text('{"files": {"database.dump": "0", "media.tar.gz": "0"}, "counts": {}}')
    with pytest.raises(CommandError, match="checksum"):
        call_command("restore", str(folder), "--database", "nope", "--media-root", str(tmp_path / "m"))
