"""A report's three rows (case, report entry, audit record) go in one round trip (incidents.intake._write_report,
citygrid.inserts): outside any transaction they are one of their own, all or nothing. These tests run outside
the test's usual transaction (transaction=True) so that the path the web server takes is the one tested."""

import re
import uuid
from contextlib import nullcontext
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from citygrid.dbroles import as_owner
from citygrid.models import AuditEvent
from incidents import intake
from incidents.models import Case, CaseKey, CaseLog, Photo
from tests.conftest import api_client, jpeg, point_in

pytestmark = pytest.mark.django_db(transaction=True)


def report(people, **kw) -> intake.Report:
    lon, lat = point_in(people["a"])
    return intake.Report(lon=lon, lat=lat, category="SJ0601", source="inspector", client_uuid=uuid.uuid4(),
                         description="路面积水", **kw)


def test_a_report_writes_its_case_entry_and_audit_record_as_the_orm_would(people):
    assert not connection.in_atomic_block
    result = intake.submit(report(people), reporter=people["inspector"])
    case = result.case
    assert result.created and not case._state.adding
    stored = Case.objects.get(pk=case.pk)
    assert re.fullmatch(rf"{settings.CASE_NUMBER_PREFIX}{timezone.localdate():%Y%m%d}\d{{6}}", stored.number)
    assert (stored.number, stored.client_uuid, stored.created_at) == (case.number, case.client_uuid, case.created_at)
    assert stored.location.equals_exact(case.location, 1e-9) and stored.updated_at is not None
    assert (stored.cell_id, stored.district_id, stored.reporter_id) == (case.cell_id, people["west"].id,
                                                                         people["inspector"].id)
    key = CaseKey.objects.get(pk=case.pk)
    assert (key.number, key.client_uuid) == (case.number, case.client_uuid)
    [entry] = CaseLog.objects.filter(case_id=case.pk)
    assert (entry.action, entry.to_status, entry.actor_id, entry.created_at) == ("report", "reported",
                                                                                people["inspector"].id,
                                                                                case.created_at)
    assert (entry.district_id, entry.street_id, entry.cell_id) == (case.district_id, case.street_id, case.cell_id)
    audit = AuditEvent.objects.get(action="case_report", target=f"case: {case.number}")
    assert (audit.user_id, audit.username, audit.detail) == (people["inspector"].id, "insp", "inspector")
    # The instance handed back is a saved one: a change to it updates its row.
    case.description = "路面积水，已扩大"
    case.save()
    assert Case.objects.get(pk=case.pk).description == "路面积水，已扩大" and Case.objects.count() == 1
    # The same round trip found the likely duplicates: none for the first, the first for a second one here.
    assert result.duplicates == []
    assert intake.submit(report(people), reporter=people["inspector"]).duplicates == [case.number]


@pytest.mark.parametrize("table", ["citygrid_auditevent", "incidents_photo"])
def test_a_failure_in_the_last_row_leaves_none_of_them(people, settings, table):
    """The audit record is the last of the three rows; a photo, when there is one, is written after them in
    the transaction opened for it."""
    with as_owner(), connection.cursor() as cur:
        cur.execute("CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$")
        cur.execute(f"CREATE TRIGGER test_refuse BEFORE INSERT ON {table} FOR EACH ROW "
                    "EXECUTE FUNCTION test_refuse()")
    r = report(people, photos=[photo()] if table == "incidents_photo" else [])
    try:
        with pytest.raises(DatabaseError, match="refused by the test"):
            intake.submit(r, reporter=people["inspector"])
    finally:
        with as_owner(), connection.cursor() as cur:
            cur.execute(f"DROP TRIGGER test_refuse ON {table}; DROP FUNCTION test_refuse()")
    assert not CaseKey.objects.filter(client_uuid=r.client_uuid).exists()
    assert not Case.objects.exists() and not CaseLog.objects.exists() and not Photo.objects.exists()
    assert not AuditEvent.objects.filter(action="case_report").exists()
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]  # the files written went too
    # The connection is usable at once, and the same report then goes in.
    r.photos = [photo()] if r.photos else []
    case = intake.submit(r, reporter=people["inspector"]).case
    if r.photos:
        [entry], [p] = CaseLog.objects.filter(case_id=case.pk), Photo.objects.filter(case_id=case.pk)
        assert (p.log_entry_id, p.log_entry_at, p.kind) == (entry.id, entry.created_at, "before")


def test_a_report_through_the_api_records_where_it_came_from(people):
    lon, lat = point_in(people["a"])
    response = api_client(people["inspector"]).post(
        reverse("incidents:case-list"), {"lon": lon, "lat": lat, "category": "SJ0601"}, format="json",
        REMOTE_ADDR="10.20.30.40")
    assert response.status_code == 201, response.content
    number = response.json()["id"]
    audit = AuditEvent.objects.get(action="case_report", target=f"case: {number}")
    assert (audit.ip, audit.username, audit.detail) == ("10.20.30.40", "insp", "inspector")
    assert CaseLog.objects.get(case__number=number).action == "report"


def photo() -> SimpleUploadedFile:
    return SimpleUploadedFile("p.jpg", jpeg(), content_type="image/jpeg")


@pytest.mark.parametrize("in_transaction", [False, True])
def test_two_requests_with_one_client_id_at_once_make_one_case(people, monkeypatch, in_transaction):
    """The other request made the case between this one's look-up and its write: the clash of client ids is
    answered with that case, and a caller's transaction goes on."""
    r = report(people)
    first = intake.submit(r, reporter=people["inspector"]).case
    looked = []
    real = intake._case_with_uuid

    def not_yet_made(client_uuid):
        looked.append(client_uuid)
        return None if len(looked) == 1 else real(client_uuid)

    monkeypatch.setattr(intake, "_case_with_uuid", not_yet_made)
    with transaction.atomic() if in_transaction else nullcontext():
        again = intake.submit(r, reporter=people["inspector"])
        assert not again.created and again.case.pk == first.pk
        assert Case.objects.count() == 1  # the caller's transaction still answers
    assert len(looked) == 2 and CaseLog.objects.count() == 1
    assert AuditEvent.objects.filter(action="case_report").count() == 1
