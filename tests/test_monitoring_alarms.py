"""Alarms: thresholds as data, episodes with minimum duration and hysteresis, one case per episode, level changes
and the end in the case's log, flapping flagged, silent sensors' maintenance cases (issue 16)."""

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from tests.conftest import point_in


@pytest.fixture
def site(people):
    from monitoring.kinds import load_kinds
    from monitoring.models import Sensor, SensorKind

    load_kinds(SensorKind)
    kinds = {k.code: k for k in SensorKind.objects.all()}
    lon, lat = point_in(people["a"])
    level = Sensor.objects.create(code="WL-001", name="和平路排水井", kind=kinds["manhole_level"], owner=people["cg"],
                                  position=Point(lon, lat, srid=4326), interval_s=60)
    gas = Sensor.objects.create(code="GAS-001", kind=kinds["gas"], owner=people["cg"],
                                position=Point(lon + 2e-4, lat, srid=4326), interval_s=60)
    return {"level": level, "gas": gas, "kinds": kinds, "t0": timezone.now() - timedelta(hours=1)}


def feed(sensor, values, t0, step_s=30, seq0=0):
    """Readings through the ingest's own path (check, store, alarms), as one batch."""
    from monitoring import alarms, ingest

    items = [(sensor.code, {"t": (t0 + timedelta(seconds=(seq0 + i) * step_s)).isoformat(), "v": v, "seq": seq0 + i})
             for i, v in enumerate(values)]
    return ingest.process(items, ingest.Registry(), alarms.on_stored)


def test_classify_by_thresholds_of_kind_and_sensor(site):
    from monitoring.alarms import classify

    level = site["level"]
    assert classify(level, 1.0) == ("normal", "", False)
    assert classify(level, 2.1) == ("warning", "above", False)
    assert classify(level, 2.6) == ("alarm", "above", False)
    level.alarm_above = 3.0  # the sensor's own level overrides its kind's
    assert classify(level, 2.6) == ("warning", "above", False)
    # a manhole filling 0.4 m within a minute: a warning by its rate, though the level is still normal
    assert classify(level, 1.4, (0.5, 1.0)) == ("warning", "above", True)
    assert classify(level, 1.4, (2.0, 1.0)) == ("normal", "", False)  # 0.2 m a minute
    assert classify(level, 0.6, (0.5, 1.0)) == ("normal", "", False)  # falling: the rise is what it watches
    pressure = site["kinds"]["pipe_pressure"]
    from monitoring.models import Sensor

    s = Sensor(kind=pressure)
    assert classify(s, 0.1)[:2] == ("alarm", "below") and classify(s, 0.2)[:2] == ("warning", "below")
    assert classify(s, 0.2, (1.0, 0.42)) == ("alarm", "below", True)  # a fall of 0.22 MPa in a minute


def test_a_sudden_fall_of_pressure_raises_its_case_at_once(site, people):
    """A water main bursting: the pressure falls 0.2 MPa between two readings. The rate of change raises the alarm
    with the reading that shows it (no minimum duration), the fall's episode lasts while the pressure stays low,
    and the pressure coming back (a rise, which a pressure's rate does not watch) ends it."""
    from django.contrib.gis.geos import Point

    from monitoring.models import AlarmEpisode, Sensor

    main = Sensor.objects.create(code="P-001", kind=site["kinds"]["pipe_pressure"], owner=people["cg"],
                                 position=Point(*point_in(people["a"]), srid=4326), interval_s=60)
    t0 = site["t0"]
    feed(main, [0.42, 0.41, 0.40], t0, step_s=60)
    assert not AlarmEpisode.objects.exists()
    feed(main, [0.20], t0, step_s=60, seq0=3)
    episode = AlarmEpisode.objects.get()
    assert episode.level == "alarm" and episode.direction == "below" and episode.case is not None
    assert episode.started_at == t0 + timedelta(minutes=3)
    feed(main, [0.20, 0.21], t0, step_s=60, seq0=4)  # holding low: still the same episode
    episode.refresh_from_db()
    assert episode.ended_at is None
    feed(main, [0.41, 0.42], t0, step_s=60, seq0=6)  # repaired: the rise ends it and starts nothing
    episode.refresh_from_db()
    assert episode.ended_at == t0 + timedelta(minutes=6) and AlarmEpisode.objects.count() == 1


def test_an_alarm_raises_one_case_whose_log_follows_the_episode(site, people):
    from incidents.models import Case, CaseLog
    from monitoring.models import AlarmEpisode

    level, t0 = site["level"], site["t0"]
    # 2.6 m for less than the minimum duration (60 s): nothing yet
    feed(level, [1.0, 2.6], t0)
    assert not AlarmEpisode.objects.exists()
    level.refresh_from_db()
    assert level.pending_level == "alarm"
    # held past the minimum duration: an alarm episode from the first reading past the level, and its case
    feed(level, [2.7, 2.8], t0, seq0=2)
    episode = AlarmEpisode.objects.get()
    assert episode.level == "alarm" and episode.started_at == t0 + timedelta(seconds=30)
    case = episode.case
    assert case is not None and case.source == "sensor" and case.category.code == "SJ0405"
    assert case.urgency == "emergency" and case.status in ("registered", "dispatched")
    assert case.district_id == people["west"].id and "WL-001" in case.description
    # the same batch again (a redelivery after a restart): nothing new, no second case
    result = feed(level, [2.7, 2.8], t0, seq0=2)
    assert result.stored == 0 and result.duplicates == 2
    assert Case.objects.filter(source="sensor").count() == 1
    # down to the warning level: a level change in the case's log; back to 1.95 is within the hysteresis (0.1)
    feed(level, [2.2, 1.95], t0, seq0=4)
    episode.refresh_from_db()
    assert episode.ended_at is None and episode.level == "warning" and episode.peak_value == 2.8
    assert CaseLog.objects.filter(case=case, action="sensor_level").count() == 1
    # below 2.0 - 0.1: the episode ends, logged; the case stays open for the bureau
    feed(level, [1.5], t0, seq0=6)
    episode.refresh_from_db()
    assert episode.ended_at == t0 + timedelta(seconds=180)
    assert [c["level"] for c in episode.changes] == ["alarm", "warning", "end"]
    assert CaseLog.objects.filter(case=case, action="sensor_clear").count() == 1
    case.refresh_from_db()
    assert case.is_open
    level.refresh_from_db()
    assert level.state == "normal" and level.last_value == 1.5
    # a new alarm later is a new episode with its own case
    feed(level, [2.9, 2.9, 2.9], t0, seq0=8)
    assert AlarmEpisode.objects.count() == 2 and Case.objects.filter(source="sensor").count() == 2


def test_a_warning_raises_no_case_until_it_reaches_the_alarm_level(site):
    from monitoring.models import AlarmEpisode

    gas, t0 = site["gas"], site["t0"]  # gas: no minimum duration
    feed(gas, [12.0, 15.0], t0)
    episode = AlarmEpisode.objects.get()
    assert episode.level == "warning" and episode.case is None
    feed(gas, [30.0], t0, seq0=2)
    episode.refresh_from_db()
    assert episode.level == "alarm" and episode.peak_level == "alarm" and episode.case is not None
    assert episode.case.category.code == "SJ0403"


def test_a_flapping_sensor_is_flagged_instead_of_raising_cases(site, settings):
    from incidents.models import Case
    from monitoring.models import AlarmEpisode

    settings.SENSOR_FLAPPING_EPISODES = 3
    gas, t0 = site["gas"], site["t0"]
    feed(gas, [30.0, 0.0, 30.0, 0.0, 30.0, 0.0, 30.0, 0.0], t0)
    assert AlarmEpisode.objects.filter(sensor=gas).count() == 4
    assert Case.objects.filter(source="sensor").count() == 2  # the third and fourth came too often
    gas.refresh_from_db()
    assert gas.flapping


def test_a_silent_sensor_raises_one_maintenance_case_to_its_owner(site, people):
    from incidents.models import CaseLog
    from monitoring.alarms import check_silent
    from monitoring.models import Silence

    level, t0 = site["level"], site["t0"]
    feed(level, [1.0], t0)
    assert check_silent(now=t0 + timedelta(minutes=4)) == 0  # 5 intervals of 60 s not yet missed
    assert check_silent(now=t0 + timedelta(minutes=6)) == 1
    assert check_silent(now=t0 + timedelta(minutes=30)) == 0  # once
    silence = Silence.objects.get()
    case = silence.case
    assert case.bureau_id == people["cg"].id and case.status == "dispatched" and "WL-001" in case.description
    assert case.category.code == "SJ0604"  # a device fault, not a flood
    level.refresh_from_db()
    assert level.state == "silent"
    feed(level, [1.1], t0, seq0=40)
    silence.refresh_from_db()
    assert silence.ended_at is not None and CaseLog.objects.filter(case=case, action="sensor_back").exists()


def test_the_leaders_table_counts_alarms_by_kind_and_district(site, people):
    from django.urls import reverse

    from tests.conftest import api_client

    feed(site["gas"], [12.0, 30.0, 0.0, 30.0], site["t0"])  # two episodes, both to the alarm level
    feed(site["level"], [2.2, 2.2, 2.2], site["t0"])  # a warning, still going
    today = timezone.localdate()
    period = {"start": (today - timedelta(days=1)).isoformat(), "end": (today + timedelta(days=1)).isoformat()}
    url = reverse("monitoring:alarm-summary")
    rows = api_client(people["leader"]).get(url, period).json()["results"]
    assert rows == [
        {"kind": "gas", "kind_name": "可燃气体浓度", "district": "430302", "district_name": "雨湖区", "episodes": 2,
         "alarms": 2, "cases": 2, "ongoing": 1},
        {"kind": "manhole_level", "kind_name": "排水井液位", "district": "430302", "district_name": "雨湖区",
         "episodes": 1, "alarms": 0, "cases": 0, "ongoing": 1}]
    assert api_client(people["east_dispatcher"]).get(url, period).json()["results"] == []
    assert api_client(people["leader"]).get(url, {"start": "x"}).status_code == 400


def test_a_case_that_fails_to_be_raised_stalls_nothing_and_is_raised_at_the_next_reading(site, monkeypatch):
    """Routing or dispatch failing (here: the registration raising, as a lost lock or a bug would) must not roll
    the batch back — the broker would redeliver it, and it would fail again, forever: the readings and the
    episode are kept, and the next reading at the alarm level raises the case."""
    from incidents import lifecycle
    from monitoring.models import AlarmEpisode

    level, t0 = site["level"], site["t0"]
    register = lifecycle.system_register

    def broken(*args, **kwargs):
        raise RuntimeError("routing unavailable")

    monkeypatch.setattr(lifecycle, "system_register", broken)
    result = feed(level, [2.6, 2.7, 2.8], t0)
    assert result.stored == 3
    episode = AlarmEpisode.objects.get()
    assert episode.level == "alarm" and episode.case is None
    monkeypatch.setattr(lifecycle, "system_register", register)
    feed(level, [2.9], t0, seq0=3)
    episode.refresh_from_db()
    assert episode.case is not None and episode.case.status in ("registered", "dispatched")


def test_the_quiet_path_in_sql_decides_as_the_alarm_engine_does(site, people):
    """Two twin sensors fed the same random walks — levels crossed both ways, sudden falls and rises, repeated and
    late readings — one through the ingest as it runs (sensors at rest reading normal moved in SQL), the other with
    every row through the Python engine: after every batch their states and episodes are the same."""
    import random

    from django.contrib.gis.geos import Point

    from monitoring import alarms, ingest
    from monitoring.models import AlarmEpisode, Sensor

    kind = site["kinds"]["pipe_pressure"]
    lon, lat = point_in(people["a"])
    twins = [Sensor.objects.create(code=f"TW-{i}", kind=kind, owner=people["cg"], interval_s=60,
                                   position=Point(lon, lat, srid=4326)) for i in (1, 2)]
    rnd = random.Random(16)
    seq, when = 0, site["t0"] - timedelta(hours=5)
    for batch in range(60):
        items = []
        for _ in range(rnd.randint(1, 6)):
            seq += 1
            # Mostly at rest around 0.42 MPa; now and then a fall — by 0.12 (a warning by its rate, within a minute),
            # 0.2 (below the warning level too) or 0.3 (the alarm level) — held for a reading or two, then back.
            dip = rnd.choice([0.12, 0.2, 0.3]) if rnd.random() < 0.2 else 0.0
            value = 0.42 - dip + rnd.uniform(-0.02, 0.02)
            when += timedelta(seconds=rnd.choice([20, 60, 90]))
            items.append({"t": when.isoformat(), "v": round(value, 3), "seq": seq})
            if rnd.random() < 0.1:  # a late reading, already passed
                items.append({"t": (when - timedelta(minutes=10)).isoformat(), "v": 0.4, "seq": seq + 100_000})
        for twin, quiet in zip(twins, (True, False), strict=True):
            ingest.process([(twin.code, item) for item in items], ingest.Registry(), alarms.on_stored, quiet=quiet)
        a, b = (Sensor.objects.get(pk=t.pk) for t in twins)
        fields = ("last_time", "last_value", "state", "pending_level", "pending_since", "flapping")
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields], f"batch {batch}"
        episodes = [list(AlarmEpisode.objects.filter(sensor=t).order_by("started_at").values_list(
            "level", "peak_level", "direction", "started_at", "ended_at", "peak_value")) for t in twins]
        assert episodes[0] == episodes[1], f"batch {batch}"
    # the walk did cross the levels, and fell fast from rest without crossing one
    assert AlarmEpisode.objects.filter(sensor=twins[0]).count() >= 5
    assert AlarmEpisode.objects.filter(sensor=twins[0], peak_value__gt=0.25).exists()
