import threading

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction

from incidents import intake, lifecycle
from incidents.models import Case, CaseLog, Source, Status
from incidents.photos import prepare_photo
from tests.conftest import jpeg, point_in


def report(people, **kw) -> Case:
    lon, lat = point_in(people["a"])
    fields = {"lon": lon, "lat": lat, "category": "SJ0102", "source": Source.INSPECTOR, "description": "垃圾堆",
              "photos": [SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg")]} | kw
    return intake.submit(intake.Report(**fields), reporter=people["inspector"]).case


def after_photo():
    return prepare_photo(SimpleUploadedFile("after.jpg", jpeg(), "image/jpeg"), keep_metadata=True)


def test_the_whole_closed_loop(people):
    case = report(people)
    assert (case.status, case.cell.community, case.district) == (Status.REPORTED, people["a"], people["west"])
    case = lifecycle.register(case, people["operator"])
    case = lifecycle.dispatch(case, people["dispatcher"], bureau=people["cg"])
    case = lifecycle.accept(case, people["cg_staff"])
    case = lifecycle.process(case, people["cg_staff"], note="已清运", photos=[after_photo()])
    case = lifecycle.verify(case, people["inspector"], passed=False, note="还有残留")
    assert (case.status, case.rework_count) == (Status.IN_PROGRESS, 1)
    case = lifecycle.process(case, people["cg_staff"], note="再次清运", photos=[after_photo()])
    case = lifecycle.verify(case, people["inspector"], passed=True)
    case = lifecycle.close(case, people["operator"])
    assert case.status == Status.CLOSED and case.closed_at is not None
    steps = list(case.log.values_list("action", "from_status", "to_status"))
    assert [s[0] for s in steps] == ["report", "register", "route", "dispatch", "accept", "process", "verify_fail",
                                     "process", "verify_pass", "close"]
    assert steps[6][1:] == ("processed", "in_progress")
    assert case.photos.filter(kind="after").count() == 2


def test_return_redispatch_postpone(people):
    case = lifecycle.register(report(people), people["operator"])
    case = lifecycle.dispatch(case, people["dispatcher"], bureau=people["water"])
    case = lifecycle.return_case(case, people["water_staff"], reason="不属于水务")
    assert (case.status, case.bureau) == (Status.RETURNED, None)
    case = lifecycle.dispatch(case, people["dispatcher"], bureau=people["cg"])
    case = lifecycle.accept(case, people["cg_staff"])
    from datetime import timedelta

    from django.utils import timezone
    until = timezone.now() + timedelta(days=3)
    case = lifecycle.request_postponement(case, people["cg_staff"], until=until, reason="需要采购设备")
    assert case.status == Status.IN_PROGRESS and case.postponement_until == until
    assert lifecycle.allowed_actions(case, people["dispatcher"]).count("approve_postponement") == 1
    case = lifecycle.approve_postponement(case, people["dispatcher"])
    assert (case.status, case.deadline, case.postponement_until) == (Status.POSTPONED, until, None)
    case = lifecycle.process(case, people["cg_staff"], note="完成", photos=[after_photo()])
    assert case.status == Status.PROCESSED


def test_reject_and_cancel_need_reasons(people):
    case = report(people)
    with pytest.raises(lifecycle.InvalidAction):
        lifecycle.reject(case, people["operator"], reason=" ")
    case = lifecycle.reject(case, people["operator"], reason="重复上报")
    assert case.status == Status.REJECTED
    other = report(people, client_uuid=None)
    with pytest.raises(lifecycle.InvalidAction):
        lifecycle.cancel(other, people["dispatcher"], reason="")
    assert lifecycle.cancel(other, people["dispatcher"], reason="误报").status == Status.CANCELLED


@pytest.mark.parametrize(("who", "action"), [
    ("inspector", "register"), ("cg_staff", "register"), ("leader", "register"), ("operator", "dispatch"),
    ("east_dispatcher", "register"),
])
def test_roles_and_scope_are_checked(people, who, action):
    case = report(people)
    before = (case.status, case.version, case.log.count())
    with pytest.raises(PermissionDenied):
        if action == "register":
            lifecycle.register(case, people[who])
        else:
            lifecycle.dispatch(case, people[who], bureau=people["cg"])
    case.refresh_from_db()
    assert (case.status, case.version, case.log.count()) == before


def test_only_the_assigned_bureau_and_the_cells_inspector_act(people):
    case = lifecycle.dispatch(lifecycle.register(report(people), people["operator"]), people["dispatcher"],
                              bureau=people["cg"])
    with pytest.raises(PermissionDenied):
        lifecycle.accept(case, people["water_staff"])
    case = lifecycle.process(lifecycle.accept(case, people["cg_staff"]), people["cg_staff"], note="ok",
                             photos=[after_photo()])
    with pytest.raises(PermissionDenied):
        lifecycle.verify(case, people["other_inspector"], passed=True)


def test_processing_needs_an_after_photo(people):
    case = lifecycle.dispatch(lifecycle.register(report(people), people["operator"]), people["dispatcher"],
                              bureau=people["cg"])
    case = lifecycle.accept(case, people["cg_staff"])
    with pytest.raises(lifecycle.InvalidAction) as exc:
        lifecycle.process(case, people["cg_staff"], note="done", photos=[])
    assert "photos" in exc.value.errors


@pytest.mark.parametrize("action", ["dispatch", "accept", "process", "close", "verify"])
def test_illegal_transitions_change_nothing(people, action):
    case = report(people)
    before = (case.status, case.version, case.log.count())
    actor = {"dispatch": "dispatcher", "accept": "cg_staff", "process": "cg_staff", "close": "operator",
             "verify": "inspector"}[action]
    with pytest.raises((lifecycle.TransitionError, PermissionDenied)):
        if action == "dispatch":
            lifecycle.dispatch(case, people[actor], bureau=people["cg"])
        elif action == "accept":
            lifecycle.accept(case, people[actor])
        elif action == "process":
            lifecycle.process(case, people[actor], note="x", photos=[after_photo()])
        elif action == "close":
            lifecycle.close(case, people[actor])
        else:
            lifecycle.verify(case, people[actor], passed=True)
    case.refresh_from_db()
    assert (case.status, case.version, case.log.count()) == before


def test_stale_version_is_a_conflict(people):
    case = report(people)
    lifecycle.register(case, people["operator"], version=case.version)
    with pytest.raises(lifecycle.TransitionError) as exc:
        lifecycle.reject(case, people["dispatcher"], reason="x", version=case.version)
    assert exc.value.case.status == Status.REGISTERED


def test_a_refused_step_is_named_as_a_person_reads_it(people):
    from django.utils import translation

    case = lifecycle.register(report(people), people["operator"])
    with translation.override("zh-hans"), pytest.raises(lifecycle.TransitionError) as exc:
        lifecycle.close(case, people["operator"])
    message = str(exc.value)
    assert "“已立案”" in message and "结案" in message and "close" not in message, message


def test_the_log_is_append_only_in_the_database(people):
    entry = report(people).log.first()
    for sql in ("UPDATE incidents_caselog SET note = 'x' WHERE id = %s", "DELETE FROM incidents_caselog WHERE id = %s"):
        # The runtime role is not granted either; the owner meets the trigger (tests/test_dbroles.py).
        with pytest.raises(Exception, match="permission denied"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, [entry.pk])
    assert CaseLog.objects.get(pk=entry.pk).note == entry.note


def test_merge_keeps_both_logs(people):
    first = report(people)
    second = report(people, description="同一堆垃圾")
    merged = lifecycle.merge(second, people["operator"], into=first)
    assert (merged.status, merged.merged_into) == (Status.MERGED, first)
    history = list(lifecycle.history(first).values_list("case__number", "action"))
    assert (second.number, "merge") in history and (first.number, "report") in history
    with pytest.raises(lifecycle.InvalidAction):
        lifecycle.merge(first, people["operator"], into=first)


@pytest.mark.django_db(transaction=True)
def test_two_people_at_once_exactly_one_wins(people):
    case = report(people)
    results, barrier = [], threading.Barrier(2)

    def act(fn):
        from django.db import connection as conn
        try:
            barrier.wait()
            fn()
            results.append("ok")
        except lifecycle.TransitionError:
            results.append("conflict")
        finally:
            conn.close()

    threads = [threading.Thread(target=act, args=(lambda: lifecycle.register(case, people["operator"]),)),
               threading.Thread(target=act, args=(lambda: lifecycle.reject(case, people["dispatcher"], reason="x"),))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict", "ok"]
    case.refresh_from_db()
    assert case.status in (Status.REGISTERED, Status.REJECTED) and case.version == 2
    assert case.log.exclude(action="route").count() == 2  # one transition (routing follows a registration)
