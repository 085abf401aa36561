"""The hotline desk (12345 / 12319): likely duplicates before saving, the caller's earlier cases, places by
name, callbacks (回访) with rework (the `reopen` transition), and the satisfaction rate."""

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import ProgrammingError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from citygrid import roles
from citygrid.models import AuditEvent
from incidents import callbacks, intake, lifecycle
from incidents.models import Callback, Case, Satisfaction
from incidents.photos import prepare_photo
from incidents.satisfaction import satisfaction_rates
from tests.conftest import api_client, jpeg, make_user, point_in


def _call(people, category="SJ0102", phone="13907311234", name="张先生", where=None, source="hotline_12345"):
    lon, lat = where or point_in(people["a"])
    return intake.submit(intake.Report(lon=lon, lat=lat, category=category, source=source, description="来电反映",
                                       contact_name=name, contact_phone=phone), reporter=people["operator"]).case


def _closed(people, case: Case | None = None, **kw) -> Case:
    case = case or _call(people, **kw)
    dispatcher, staff = people["dispatcher"], people["cg_staff"]
    case = lifecycle.register(case, dispatcher)
    case.refresh_from_db()
    if case.status != "dispatched":
        case = lifecycle.dispatch(case, dispatcher, bureau=people["cg"], note="就近")
    case = lifecycle.accept(case, staff)
    after = prepare_photo(SimpleUploadedFile("after.jpg", jpeg(), "image/jpeg"), keep_metadata=True)
    case = lifecycle.process(case, staff, note="已处理", photos=[after])
    case = lifecycle.verify(case, people["inspector"], passed=True)
    return lifecycle.close(case, dispatcher)


# ---- likely duplicates before saving

def test_likely_duplicates_of_a_call_not_yet_saved(people):
    lon, lat = point_in(people["a"])
    near = _call(people, where=(lon + 0.0002, lat))  # ~20 m
    _call(people, where=(lon + 0.002, lat))  # ~200 m: not a duplicate
    _call(people, category="SJ0103")  # another subclass
    done = _call(people)
    lifecycle.cancel(done, people["dispatcher"], reason="测试")  # closed cases are not duplicates
    url = reverse("incidents:duplicates")
    found = api_client(people["operator"]).get(url, {"lon": lon, "lat": lat, "category": "SJ0102"}).json()["results"]
    assert [d["number"] for d in found] == [near.number]
    assert found[0]["distance_m"] in range(15, 25) and found[0]["can_merge_into"] and found[0]["category"] == "SJ0102"
    # Out of scope: the other district's centre does not learn of the west's cases.
    east = api_client(people["east_dispatcher"]).get(url, {"lon": lon, "lat": lat, "category": "SJ0102"})
    assert east.status_code == 200 and east.json()["results"] == []
    bad = api_client(people["operator"]).get(url, {"lon": "x", "lat": 200, "category": "NOPE"})
    assert bad.status_code == 400 and set(bad.json()) == {"lon", "lat", "category"}
    assert api_client(people["leader"]).get(url, {"lon": lon, "lat": lat, "category": "SJ0102"}).status_code == 403


def test_the_desk_merges_a_call_into_the_duplicate_it_was_shown(people):
    lon, lat = point_in(people["a"])
    first = _call(people, phone="13900000001")
    client = api_client(people["operator"])
    shown = client.get(reverse("incidents:duplicates"), {"lon": lon, "lat": lat, "category": "SJ0102"})
    [dup] = shown.json()["results"]
    new = client.post(reverse("incidents:case-list"), {"lon": lon, "lat": lat, "category": "SJ0102",
                                                     "source": "hotline_12319", "contact_phone": "13900000002"},
                      format="json").json()
    merged = client.post(reverse("incidents:case-action", args=[new["id"], "merge"]),
                         {"version": new["properties"]["version"], "into": dup["number"]}, format="json")
    assert merged.status_code == 200 and merged.json()["properties"]["merged_into"] == first.number
    assert Case.objects.get(number=new["id"]).source == "hotline_12319"


# ---- the caller's earlier cases

def test_a_callers_earlier_cases_by_the_digits_typed(people):
    mine = _call(people, phone="139-0731-5555")
    other = _call(people, phone="13907319999")
    east_lon, east_lat = people["east"].geom.point_on_surface.coords
    _call(people, phone="13907315555", where=(east_lon, east_lat))  # the east district's case, same number
    url = reverse("incidents:caller-cases")
    west_operator = api_client(make_user("oper_west", roles.OPERATOR, district=people["west"]))
    found = west_operator.get(url, {"phone": "1390731"}).json()["results"]
    assert {c["number"] for c in found} == {mine.number, other.number}  # not the east's
    exact = west_operator.get(url, {"phone": "13907315555"}).json()["results"]
    assert [c["number"] for c in exact] == [mine.number] and exact[0]["same_number"]
    assert exact[0]["contact_name"] == "张先生"
    assert api_client(people["operator"]).get(url, {"phone": "13907315555"}).json()["results"][0]["same_number"]
    assert west_operator.get(url, {"phone": "13907"}).json()["results"] == []  # too few digits to tell
    assert api_client(people["inspector"]).get(url, {"phone": "13907315555"}).status_code == 403


def test_the_callers_lookup_uses_its_index(people):
    """Two thousand cases with callers' numbers, analysed: the prefix look-up goes through the digits index. (On
    empty tables any plan costs the same, and the planner took a partial index of cases with a number, filtering
    each row — right for no table of any size.)"""
    from citygrid.dbroles import analyze
    from dispatch.history import generate_history
    from incidents.callers import _SQL

    generate_history(2000, timezone.now() - timedelta(days=3), 2 * 86400, "PH")
    with connection.cursor() as cur:
        cur.execute("UPDATE incidents_case SET contact_phone = '139' || lpad((id * 7919 % 100000000)::text, 8, '0')")
    analyze("incidents_case")
    with connection.cursor() as cur:
        cur.execute("EXPLAIN " + _SQL, {"prefix": "139073%", "digits": "139073", "limit": 50})
        plan = "\n".join(row[0] for row in cur.fetchall())
        # The cases are partitioned by month: each partition has its own copy of the index.
        cur.execute("SELECT inhrelid::regclass::text FROM pg_inherits "
                    "WHERE inhparent = 'case_contact_digits_idx'::regclass")
        copies = [name for (name,) in cur.fetchall()]
    assert copies and any(name in plan for name in copies), plan


# ---- places by name

def test_places_by_name_and_cell_code(people):
    client = api_client(people["operator"])
    found = client.get(reverse("grids:places"), {"q": "和平"}).json()["results"]
    assert found[0]["kind"] == "community" and found[0]["name"] == "和平社区"
    assert found[0]["context"] == "雨湖区 城正街街道"
    assert people["a"].geom.contains(Point(found[0]["lon"], found[0]["lat"], srid=4326))
    street = client.get(reverse("grids:places"), {"q": "城正街"}).json()["results"]
    assert [p["kind"] for p in street] == ["street"]
    code = people["a"].cells.order_by("code").first().code
    cells = client.get(reverse("grids:places"), {"q": code}).json()["results"]
    assert cells[0] == {**cells[0], "kind": "cell", "code": code}
    assert client.get(reverse("grids:places"), {"q": "x" * 51}).status_code == 400
    assert client.get(reverse("grids:places"), {"q": "和平", "limit": 0}).status_code == 400


def gazetteer(query: str, limit: int):
    """A stand-in address gazetteer, as a city would plug in (GRID_PLACE_SOURCES)."""
    from grids.places import Place

    if "雨湖路" not in query:
        return []
    return [Place("address", "A-1", "雨湖路 88 号", "雨湖区", 112.885, 27.883, source="gazetteer")]


def test_an_address_gazetteer_plugs_in_by_setting(people, settings):
    settings.GRID_PLACE_SOURCES = ["grids.places.grid_names", "tests.test_hotline.gazetteer"]
    found = api_client(people["operator"]).get(reverse("grids:places"), {"q": "雨湖路 88"}).json()["results"]
    assert found == [{"kind": "address", "code": "A-1", "name": "雨湖路 88 号", "context": "雨湖区", "lon": 112.885,
                      "lat": 27.883, "source": "gazetteer"}]


# ---- callbacks and rework

def test_closed_cases_with_a_number_wait_for_a_callback(people):
    closed = _closed(people)
    _closed(people, phone="")  # nobody to call
    _call(people)  # not closed yet
    due = [c.number for c in callbacks.due(people["operator"])]
    assert due == [closed.number]
    listed = api_client(people["operator"]).get(reverse("incidents:callbacks")).json()
    assert listed["count"] == 1 and listed["results"][0]["contact_phone"] == "13907311234"
    assert api_client(people["east_dispatcher"]).get(reverse("incidents:callbacks")).json()["count"] == 0


def test_not_reached_stays_on_the_list_until_the_attempts_run_out(people, settings):
    settings.CALLBACK_MAX_ATTEMPTS = 2
    case = _closed(people)
    client = api_client(people["operator"])
    url = reverse("incidents:callback", args=[case.number])
    assert client.post(url, {"reached": False, "note": "无人接听"}, format="json").status_code == 201
    [again] = callbacks.due(people["operator"])
    assert again.attempts == 1
    assert client.post(url, {"reached": False}, format="json").status_code == 201
    assert list(callbacks.due(people["operator"])) == []
    assert Callback.objects.filter(case=case, reached=False).count() == 2


def test_a_satisfied_callback_is_recorded_logged_and_audited(people):
    case = _closed(people)
    client = api_client(people["operator"])
    url = reverse("incidents:callback", args=[case.number])
    answer = client.post(url, {"reached": True, "satisfaction": "satisfied", "note": "很满意"}, format="json")
    assert answer.status_code == 201 and answer.json()["work_case"]["status"] == "closed"
    callback = Callback.objects.get(case=case)
    assert (callback.reached, callback.satisfaction, callback.bureau, callback.district) == (
        True, "satisfied", people["cg"], people["west"])
    assert case.log.filter(action="callback", note__contains="很满意").exists()
    assert AuditEvent.objects.filter(action="case_callback", target=f"case: {case.number}").exists()
    assert list(callbacks.due(people["operator"])) == []
    twice = client.post(url, {"reached": True, "satisfaction": "basically"}, format="json")
    assert twice.status_code == 409  # someone reached the caller already
    open_case = _call(people)
    assert client.post(reverse("incidents:callback", args=[open_case.number]), {"reached": False},
                       format="json").status_code == 409  # nothing to call back yet


@pytest.mark.parametrize(("body", "field"), [
    ({}, "reached"), ({"reached": True}, "satisfaction"), ({"reached": True, "satisfaction": "happy"}, "satisfaction"),
    ({"reached": False, "satisfaction": "satisfied"}, "satisfaction"), ({"reached": "maybe"}, "reached"),
    ({"reached": True, "satisfaction": "satisfied", "reopen": True}, "reopen"),
    ({"reached": False, "note": "x" * 501}, "note"), ({"reached": False, "note": 5}, "note")])
def test_bad_callbacks_are_400_with_the_field(people, body, field):
    case = _closed(people)
    answer = api_client(people["operator"]).post(reverse("incidents:callback", args=[case.number]), body,
                                                 format="json")
    assert answer.status_code == 400 and field in answer.json(), answer.json()
    assert not Callback.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_callbacks_are_append_only(people):
    import psycopg2

    from citygrid import dbroles

    case = _closed(people)
    callbacks.record_callback(case, people["operator"], reached=True, satisfaction="satisfied")
    statements = ("UPDATE incidents_callback SET satisfaction = 'not_satisfied'", "DELETE FROM incidents_callback")
    for statement in statements:  # the runtime role has no such grant ...
        with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic(), \
                connection.cursor() as cur:
            cur.execute(statement)
    conn = dbroles.connect(dbroles.OWNER)  # ... and the owner meets the trigger
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute("SAVEPOINT s")
                with pytest.raises(psycopg2.Error, match="append-only"):
                    cur.execute(statement)
                cur.execute("ROLLBACK TO SAVEPOINT s")
        conn.rollback()
    finally:
        conn.close()
    assert Callback.objects.get().satisfaction == "satisfied"


def test_not_satisfied_reopens_the_case_to_the_same_bureau_as_rework(people):
    case = _closed(people)
    Case.objects.filter(pk=case.pk).update(deadline=timezone.now() - timedelta(days=10))  # closed long ago
    answer = api_client(people["operator"]).post(
        reverse("incidents:callback", args=[case.number]),
        {"reached": True, "satisfaction": "not_satisfied", "note": "垃圾又堆起来了", "reopen": True}, format="json")
    assert answer.status_code == 201 and answer.json()["reopened"]
    case.refresh_from_db()
    assert (case.status, case.bureau, case.rework_count, case.closed_at) == ("dispatched", people["cg"], 1, None)
    assert case.deadline > timezone.now()  # a fresh processing deadline, counted from the reopening
    entry = case.log.get(action="reopen")
    assert (entry.from_status, entry.to_status, entry.actor, entry.bureau) == (
        "closed", "dispatched", people["operator"], people["cg"])
    assert "垃圾又堆起来了" in entry.note
    assert AuditEvent.objects.filter(action="case_reopen").exists()
    assert "accept" in lifecycle.allowed_actions(case, people["cg_staff"])  # back in the bureau's queue
    # Round the loop again, and the caller is called again after the second closure.
    case = lifecycle.accept(case, people["cg_staff"])
    after = prepare_photo(SimpleUploadedFile("after.jpg", jpeg(), "image/jpeg"), keep_metadata=True)
    case = lifecycle.process(case, people["cg_staff"], note="再次清理", photos=[after])
    case = lifecycle.verify(case, people["inspector"], passed=True)
    case = lifecycle.close(case, people["dispatcher"])
    assert [c.number for c in callbacks.due(people["operator"])] == [case.number]


def test_reopening_a_case_whose_bureau_was_switched_off_goes_back_to_registration(people):
    case = _closed(people)
    people["cg"].active = False
    people["cg"].save()
    case = lifecycle.reopen(case, people["dispatcher"], reason="回访不满意")
    assert (case.status, case.bureau) == ("registered", None)
    assert case.log.filter(action="route").count() == 2  # routed again for the dispatcher


def test_reopen_is_checked_like_every_transition(people):
    case = _call(people)
    with pytest.raises(lifecycle.TransitionError):
        lifecycle.reopen(case, people["dispatcher"], reason="x")  # not closed
    case = _closed(people, case)
    with pytest.raises(lifecycle.InvalidAction):
        lifecycle.reopen(case, people["dispatcher"], reason=" ")
    with pytest.raises(PermissionDenied):
        lifecycle.reopen(case, people["cg_staff"], reason="x")  # not a bureau's decision
    with pytest.raises(PermissionDenied):
        lifecycle.reopen(case, people["east_dispatcher"], reason="x")  # another district
    with pytest.raises(PermissionDenied):
        callbacks.record_callback(case, make_user("oper_east", roles.OPERATOR, district=people["east"]), reached=False)
    stale = api_client(people["dispatcher"]).post(reverse("incidents:case-action", args=[case.number, "reopen"]),
                                                  {"reason": "复查", "version": case.version - 1}, format="json")
    assert stale.status_code == 409
    ok = api_client(people["dispatcher"]).post(reverse("incidents:case-action", args=[case.number, "reopen"]),
                                               {"reason": "复查", "version": case.version}, format="json")
    assert ok.status_code == 200 and ok.json()["properties"]["status"] == "dispatched"


def test_a_merged_callers_case_is_called_back_when_the_work_closes(people):
    first = _call(people, phone="13900000001")
    second = _call(people, phone="13900000002")
    lifecycle.merge(second, people["operator"], into=first)
    assert list(callbacks.due(people["operator"])) == []
    first = _closed(people, first)
    due = {c.number: c for c in callbacks.due(people["operator"])}
    assert set(due) == {first.number, second.number} and due[second.number].merged_into == first
    done = callbacks.record_callback(second, people["operator"], reached=True, satisfaction="not_satisfied",
                                     reopen=True)
    assert done.work_case.pk == first.pk and done.work_case.status == "dispatched"  # the work reopened
    assert Callback.objects.get(case=second).work_case == first


# ---- the satisfaction rate (满意率)

def test_satisfaction_rate_per_bureau_and_district_over_a_period(people):
    answers = ["satisfied", "satisfied", "basically", "not_satisfied"]
    for satisfaction in answers:
        callbacks.record_callback(_closed(people), people["operator"], reached=True, satisfaction=satisfaction)
    callbacks.record_callback(_closed(people), people["operator"], reached=False)  # not counted
    now = timezone.now()
    by_bureau = satisfaction_rates("bureau", now - timedelta(hours=1), now + timedelta(hours=1))
    figures = by_bureau[people["cg"].pk]
    assert (figures.answered, figures.satisfied, figures.basically, figures.not_satisfied) == (4, 2, 1, 1)
    assert figures.rate == 0.75
    by_district = satisfaction_rates("district", now - timedelta(hours=1), now + timedelta(hours=1))
    assert by_district[people["west"].pk].rate == 0.75
    assert satisfaction_rates("district", now - timedelta(hours=1), now + timedelta(hours=1),
                              district_id=people["east"].pk) == {}
    assert satisfaction_rates("bureau", now + timedelta(hours=1), now + timedelta(hours=2)) == {}
    assert Satisfaction.BASICALLY.label  # the three answers the desk records
