"""The sensor layer on the dispatcher's console in a real browser: sensors coloured by state, an alarm arriving
live through the feed (its case in the list and the emergency banner), the sensor panel with its last 24 hours
and its episodes (issue 16)."""

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from tests.browser import browser, login, screenshot_dir
from tests.conftest import point_in
from tests.test_faces import PASSWORD, offline_tiles  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def _feed(sensor, values, t0, step_s=300, seq0=0):
    from monitoring import alarms, ingest

    items = [(sensor.code, {"t": (t0 + timedelta(seconds=(seq0 + i) * step_s)).isoformat(), "v": v, "seq": seq0 + i})
             for i, v in enumerate(values)]
    return ingest.process(items, ingest.Registry(), alarms.on_stored)


def test_the_console_shows_sensors_by_state_and_an_alarm_live(live_server, people, offline_tiles):  # noqa: F811
    import math

    from monitoring.alarms import AlarmEpisode
    from monitoring.kinds import load_kinds
    from monitoring.models import Sensor, SensorKind

    load_kinds(SensorKind)
    kinds = {k.code: k for k in SensorKind.objects.all()}
    lon, lat = point_in(people["a"])
    well = Sensor.objects.create(code="WL-001", name="和平路3号排水井", kind=kinds["manhole_level"], owner=people["cg"],
                                 position=Point(lon, lat, srid=4326), interval_s=300, watched_object="雨水井 YS-0311")
    gas = Sensor.objects.create(code="GAS-001", name="建设路燃气管廊", kind=kinds["gas"], owner=people["cg"],
                                position=Point(lon + 0.003, lat + 0.001, srid=4326), interval_s=300)
    now = timezone.now()
    t0 = now - timedelta(hours=24)
    # a day of a manhole's water level with a daily cycle, and a gas sensor at zero
    _feed(well, [0.8 + 0.3 * math.sin(i / 288 * 2 * math.pi) for i in range(280)], t0)
    _feed(gas, [0.0] * 280, t0)
    with browser() as b:
        page = b.new_page(viewport={"width": 1600, "height": 900})
        login(page, live_server.url, "disp_city", PASSWORD)
        page.wait_for_selector("#live.on")
        page.wait_for_function("() => document.body.dataset.sensorsLoaded === '2'")
        assert page.locator(".sensor-dot.sensor-normal").count() == 2
        legend = page.inner_text("#sensor-legend")  # says what it counts
        assert legend.startswith("视野内传感器：") and legend.rstrip().endswith("2"), legend
        # a rainstorm fills the manhole: past the alarm level for longer than the minimum duration
        _feed(well, [2.2, 2.7, 2.9, 3.1], t0, seq0=280)
        episode = AlarmEpisode.objects.get(sensor=well)
        assert episode.case is not None
        number = episode.case.number
        page.wait_for_selector(f"#list li[data-number='{number}']", timeout=15000)  # through the live feed
        page.wait_for_selector(f"#banner[data-number='{number}']:not([hidden])", timeout=15000)
        page.wait_for_selector(".sensor-dot.sensor-alarm[title='WL-001']", timeout=15000)
        page.locator(".sensor-dot.sensor-alarm").click()
        page.wait_for_selector("#sensor-panel[data-code='WL-001'] svg.sensor-chart polyline.mean")
        panel = page.locator("#sensor-panel").inner_text()
        assert "和平路3号排水井" in panel and number in panel and "报警" in panel
        assert page.locator("#sensor-panel svg line.alarm_above").count() == 1
        page.screenshot(path=str(screenshot_dir() / "console-sensors.png"))
        # the leader's dashboard counts it by kind and district
        leader = b.new_page(viewport={"width": 1400, "height": 900})
        login(leader, live_server.url, "lead", PASSWORD)
        leader.goto(live_server.url + "/dashboard/")
        leader.wait_for_selector("#sensor-alarms[data-loaded='1']", timeout=15000)
        row = leader.locator("#sensor-alarms tr").nth(1).inner_text()
        assert "排水井液位" in row and "雨湖区" in row
