"""Lifeline monitoring on the real broker: the product's Mosquitto with the password file and ACL written from
the registry, the ingest's at-least-once delivery stored once across a restart, bad readings counted (issue 16)."""

import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.utils import timezone

from tests.conftest import point_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def devices(people, mqtt_registry):
    """Three sensors with broker passwords, the broker told about them."""
    from monitoring.broker import issue_sensor_passwords
    from monitoring.kinds import load_kinds
    from monitoring.models import Sensor, SensorKind

    load_kinds(SensorKind)
    clear_readings()
    kinds = {k.code: k for k in SensorKind.objects.all()}
    lon, lat = point_in(people["a"])
    made = [Sensor.objects.create(code=f"WL-{i:03d}", kind=kinds["manhole_level"], owner=people["cg"],
                                  position=Point(lon + i * 1e-4, lat, srid=4326)) for i in range(1, 4)]
    passwords = issue_sensor_passwords(made)
    mqtt_registry()
    return {"sensors": {s.code: s for s in made}, "passwords": passwords}


def clear_readings() -> None:
    # The readings tables are not Django's (migration 0003): a transactional test's flush leaves them.
    with connection.cursor() as cur:
        for table in ("monitoring_reading", "monitoring_reading_minute", "monitoring_reading_hour"):
            cur.execute(f"DELETE FROM {table}")


def _publisher(url_port: int, user: str, password: str, protocol=mqtt.MQTTv311) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dev-{user}-{uuid.uuid4().hex[:6]}",
                         protocol=protocol)
    client.username_pw_set(user, password)
    client.connect("127.0.0.1", url_port)
    client.loop_start()
    return client


def _reading(seq: int, value: float, t=None) -> bytes:
    return json.dumps({"t": (t or timezone.now()).isoformat(), "v": value, "seq": seq}).encode()


def _count(sensor_id: int | None = None) -> int:
    with connection.cursor() as cur:
        if sensor_id is None:
            cur.execute("SELECT count(*) FROM monitoring_reading")
        else:
            cur.execute("SELECT count(*) FROM monitoring_reading WHERE sensor_id = %s", [sensor_id])
        return cur.fetchone()[0]


class Running:
    """An ingest in a thread of this process (its own database connection), as run_ingest runs it."""

    def __init__(self, broker: dict, **kwargs):
        from monitoring.ingest import MqttIngest

        self.ingest = MqttIngest(broker["url"], **kwargs)
        self.ingest.start()
        assert self.ingest.connected.wait(5), "the ingest did not connect"
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.ingest.run()
        finally:
            connection.close()

    def stop(self) -> None:
        self.ingest.stop()
        self.thread.join(10)


def _wait(condition, seconds: float = 15) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_the_broker_refuses_anonymous_clients_wrong_passwords_and_other_sensors_topics(devices, mqtt_broker):
    from monitoring.models import topic_for

    port = mqtt_broker["port"]
    for user, password in ((None, None), ("WL-001", "wrong")):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if user:
            client.username_pw_set(user, password)
        with pytest.raises((ConnectionRefusedError, AssertionError, OSError)):
            client.connect("127.0.0.1", port)
            client.loop_start()
            assert _wait(lambda c=client: c.is_connected(), 2), "refused"
            client.loop_stop()
    # The device's own topic is granted (PUBACK success), another sensor's is refused (MQTT 5 reason code).
    acks: dict[int, object] = {}
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_publish = lambda c, u, mid, rc, props: acks.__setitem__(mid, rc)
    client.username_pw_set("WL-001", devices["passwords"]["WL-001"])
    client.connect("127.0.0.1", port)
    client.loop_start()
    own = client.publish(topic_for("WL-001"), _reading(1, 1.0), qos=1)
    other = client.publish(topic_for("WL-002"), _reading(1, 9.0), qos=1)
    assert _wait(lambda: own.mid in acks and other.mid in acks, 5)
    client.loop_stop()
    client.disconnect()
    assert not acks[own.mid].is_failure
    assert acks[other.mid].is_failure and acks[other.mid].value == 0x87  # not authorized
    acl = (mqtt_broker["dir"] / "acl").read_text()
    assert "user WL-002\ntopic write citygrid/sensors/WL-002" in acl
    assert "WL-001:" in (mqtt_broker["dir"] / "passwd").read_text()
    assert devices["passwords"]["WL-001"] not in (mqtt_broker["dir"] / "passwd").read_text()


def test_readings_through_mosquitto_are_stored_once_across_an_ingest_restart(devices, mqtt_broker):
    """The ingest is stopped in the middle of a stream and started again with the same persistent session: every
    reading sent is stored, none twice (the broker redelivers what was never acknowledged)."""
    from monitoring.models import topic_for

    west = devices["sensors"]["WL-001"]
    first = Running(mqtt_broker, batch_max=50, batch_seconds=0.05)
    publisher = _publisher(mqtt_broker["port"], "WL-001", devices["passwords"]["WL-001"])
    start = timezone.now()
    sent = 600
    infos = []
    for seq in range(sent):
        infos.append(publisher.publish(topic_for("WL-001"), _reading(seq, 1.0 + seq % 7 / 10,
                                       start + timezone.timedelta(milliseconds=seq)), qos=1))
        if seq == 200:
            assert _wait(lambda: _count(west.pk) > 0)
            first.stop()  # mid-stream: some received, not all committed, none acknowledged after the stop
    for info in infos:
        info.wait_for_publish(10)
    publisher.loop_stop()
    publisher.disconnect()
    stored_before_restart = _count(west.pk)
    assert stored_before_restart < sent
    second = Running(mqtt_broker, batch_max=50, batch_seconds=0.05)
    try:
        assert _wait(lambda: _count(west.pk) >= sent, 30), _count(west.pk)
        time.sleep(0.5)  # anything redelivered twice would land now
        assert _count(west.pk) == sent
        with connection.cursor() as cur:
            cur.execute("SELECT count(DISTINCT seq), min(seq), max(seq) FROM monitoring_reading WHERE sensor_id = %s",
                        [west.pk])
            assert cur.fetchone() == (sent, 0, sent - 1)
            cur.execute("SELECT sum(n) FROM monitoring_reading_minute WHERE sensor_id = %s", [west.pk])
            assert cur.fetchone()[0] == sent  # the rollups count each reading once, too
    finally:
        second.stop()


def test_bad_readings_are_refused_counted_and_do_not_stop_the_ingest(devices, mqtt_broker):
    from datetime import timedelta

    from monitoring.broker import issue_sensor_passwords
    from monitoring.models import Sensor, topic_for
    from monitoring.readings import refused_total

    # A sensor that was switched off keeps its broker account until the registry is written again: its
    # readings reach the ingest and are refused as from an unknown sensor.
    Sensor.objects.filter(code="WL-003").update(active=False)
    running = Running(mqtt_broker, batch_max=20, batch_seconds=0.05)
    try:
        publisher = _publisher(mqtt_broker["port"], "WL-001", devices["passwords"]["WL-001"])
        off = _publisher(mqtt_broker["port"], "WL-003", devices["passwords"]["WL-003"])
        now = timezone.now()
        for payload in (b"{not json", b'{"v": 1.0}', _reading(1, 42.0), _reading(2, 1.0, now + timedelta(days=1)),
                        _reading(3, 1.0)):
            publisher.publish(topic_for("WL-001"), payload, qos=1).wait_for_publish(5)
        off.publish(topic_for("WL-003"), _reading(1, 1.0), qos=1).wait_for_publish(5)
        assert _wait(lambda: refused_total() == 5 and _count() == 1), (refused_total(), _count())
        assert refused_total("malformed") == 2 and refused_total("out_of_range") == 1
        assert refused_total("future") == 1 and refused_total("unknown_sensor") == 1
        # ...and the ingest goes on: a good reading after them is stored.
        publisher.publish(topic_for("WL-001"), _reading(4, 1.1), qos=1).wait_for_publish(5)
        assert _wait(lambda: _count() == 2)
        for client in (publisher, off):
            client.loop_stop()
            client.disconnect()
        assert issue_sensor_passwords([]) == {}
    finally:
        running.stop()


def test_a_message_may_carry_an_array_of_readings_each_checked_and_stored_once(devices, mqtt_broker):
    """A device that reports a minute's samples at once: one message, one acknowledgement, each reading checked on
    its own (a bad one refused and counted, the others stored), a redelivery of the whole message stored once; an
    array longer than MAX_READINGS_PER_MESSAGE is refused whole."""
    from monitoring.models import topic_for
    from monitoring.readings import MAX_READINGS_PER_MESSAGE, refused_total

    west = devices["sensors"]["WL-001"]
    start = timezone.now() - timezone.timedelta(minutes=5)

    def sample(seq: int, value: float) -> dict:
        return {"t": (start + timezone.timedelta(seconds=6 * seq)).isoformat(), "v": value, "seq": seq}

    minute = json.dumps([sample(seq, 1.0 + seq / 100) for seq in range(9)] + [sample(9, 42.0)]).encode()
    running = Running(mqtt_broker, batch_max=50, batch_seconds=0.05)
    try:
        publisher = _publisher(mqtt_broker["port"], "WL-001", devices["passwords"]["WL-001"])
        for _ in range(2):  # the second as a retry: stored once
            publisher.publish(topic_for("WL-001"), minute, qos=1).wait_for_publish(5)
        too_long = json.dumps([sample(100 + i, 1.0) for i in range(MAX_READINGS_PER_MESSAGE + 1)]).encode()
        publisher.publish(topic_for("WL-001"), too_long, qos=1).wait_for_publish(5)
        publisher.publish(topic_for("WL-001"), b"[]", qos=1).wait_for_publish(5)
        assert _wait(lambda: refused_total() == 4 and _count(west.pk) == 9), (refused_total(), _count(west.pk))
        assert refused_total("out_of_range") == 2 and refused_total("malformed") == 2
        with connection.cursor() as cur:
            cur.execute("SELECT array_agg(seq ORDER BY seq) FROM monitoring_reading WHERE sensor_id = %s", [west.pk])
            assert cur.fetchone()[0] == list(range(9))
        publisher.loop_stop()
        publisher.disconnect()
    finally:
        running.stop()


def _ingest_holding(mqtt_broker: dict, devices: dict, sent: int):
    """An ingest that has received `sent` readings of WL-001, stored none, and then lost its connection."""
    from monitoring.ingest import MqttIngest
    from monitoring.models import topic_for

    ingest = MqttIngest(mqtt_broker["url"], batch_max=50, batch_seconds=0.05)
    ingest.start()
    assert ingest.connected.wait(5)
    publisher = _publisher(mqtt_broker["port"], "WL-001", devices["passwords"]["WL-001"])
    start = timezone.now() - timezone.timedelta(minutes=1)
    for seq in range(sent):
        publisher.publish(topic_for("WL-001"), _reading(seq, 1.0, start + timezone.timedelta(seconds=seq)),
                          qos=1).wait_for_publish(5)
    publisher.loop_stop()
    publisher.disconnect()
    assert _wait(lambda: ingest.inbox.qsize() == sent, 5), ingest.inbox.qsize()  # received, none stored yet
    ingest.client.disconnect()  # the connection drops
    ingest.client.loop_stop()
    ingest.connected.clear()
    return ingest


def test_messages_received_before_a_reconnect_are_left_to_the_redelivery_not_stored_twice(devices, mqtt_broker):
    """Messages waiting in the ingest when its connection drops cannot be acknowledged on the next one, and the
    broker sends them again: the ingest skips the first copies, so each reading is checked once, not stored and
    then found a duplicate (after a broker restart, a whole in-flight window ahead of newer readings)."""
    west = devices["sensors"]["WL-001"]
    sent = 40
    ingest = _ingest_holding(mqtt_broker, devices, sent)  # the same persistent session comes back:
    ingest.start()
    assert ingest.connected.wait(5)
    assert _wait(lambda: ingest.inbox.qsize() == 2 * sent, 5), ingest.inbox.qsize()  # the broker sent them again
    thread = threading.Thread(target=lambda: (ingest.run(until=lambda: _count(west.pk) >= sent and
                                                         ingest.inbox.empty()), connection.close()))
    thread.start()
    try:
        thread.join(20)
        assert _count(west.pk) == sent
        assert (ingest.totals.stored, ingest.totals.duplicates) == (sent, 0)
    finally:
        ingest.stopping.set()
        thread.join(5)
        ingest.stop()


def test_an_alarm_through_the_broker_raises_one_case_across_ingest_restarts(devices, mqtt_broker):
    """Readings past the alarm level arrive over MQTT while the ingest is stopped and started again twice: one
    episode, one case, whatever was redelivered."""
    from monitoring.alarms import on_stored
    from monitoring.models import AlarmEpisode, topic_for

    publisher = _publisher(mqtt_broker["port"], "WL-002", devices["passwords"]["WL-002"])
    start = timezone.now() - timezone.timedelta(minutes=30)
    values = [1.0] * 5 + [2.8] * 40 + [1.0] * 5
    running = Running(mqtt_broker, batch_max=7, batch_seconds=0.02, on_stored=on_stored)
    infos = []
    for seq, value in enumerate(values):
        infos.append(publisher.publish(topic_for("WL-002"), _reading(seq, value, start + timezone.timedelta(
            seconds=10 * seq)), qos=1))
        if seq in (12, 30):
            _wait(lambda s=seq: _count() >= s - 5, 10)
            running.stop()
            running = Running(mqtt_broker, batch_max=7, batch_seconds=0.02, on_stored=on_stored)
    for info in infos:
        info.wait_for_publish(10)
    try:
        assert _wait(lambda: _count() == len(values), 30), _count()
        episode = AlarmEpisode.objects.get()
        assert episode.case is not None and episode.ended_at is not None and episode.peak_value == 2.8
        from incidents.models import Case

        assert Case.objects.filter(source="sensor").count() == 1
    finally:
        running.stop()
        publisher.loop_stop()
        publisher.disconnect()


def test_the_simulator_drives_a_rainstorm_through_the_broker_to_cases(devices, mqtt_broker):
    """manage.py simulate_sensors publishes as its gateway; the manholes fill, the ingest stores every reading and
    the alarms raise the cases."""
    import io

    from django.core.management import call_command

    from incidents.models import Case
    from monitoring.alarms import on_stored
    from monitoring.models import Gateway, SensorKind

    SensorKind.objects.filter(code="manhole_level").update(min_duration_s=0)
    running = Running(mqtt_broker, batch_max=100, batch_seconds=0.05, on_stored=on_stored)
    try:
        out = io.StringIO()
        call_command("simulate_sensors", "--scenario", "rainstorm", "--after", "0.5", "--ramp", "1",
                     "--interval", "0.25", "--share", "1", "--duration", "4", stdout=out)
        published = int(out.getvalue().strip().splitlines()[-1].split()[0])
        assert published >= 3 * 10
        assert _wait(lambda: _count() == published, 15), (_count(), published)
        assert "user gateway-simulator\ntopic write citygrid/sensors/+" in (mqtt_broker["dir"] / "acl").read_text()
        assert Gateway.objects.get(code="simulator").mqtt_hash
        assert _wait(lambda: Case.objects.filter(source="sensor", category__code="SJ0405").count() == 3, 10)
    finally:
        running.stop()


def test_a_sensor_added_later_gets_its_account_from_the_scheduler_sync(devices, mqtt_broker, people):
    import io

    from django.core.management import call_command

    from monitoring import broker
    from monitoring.models import Sensor, SensorKind, topic_for

    assert broker.sync(mqtt_broker["dir"], mqtt_broker["port"]) is False  # nothing changed since the fixture
    lon, lat = point_in(people["b"])
    Sensor.objects.create(code="GAS-100", kind=SensorKind.objects.get(code="gas"), owner=people["cg"],
                          position=Point(lon, lat, srid=4326))
    out = io.StringIO()
    call_command("issue_sensor_password", "GAS-100", stdout=out)  # prints it once, rewrites and reloads
    code, password = out.getvalue().split()
    assert code == "GAS-100" and Sensor.objects.get(code=code).mqtt_hash.startswith("$7$")
    acks: dict[int, object] = {}
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_publish = lambda c, u, mid, rc, props: acks.__setitem__(mid, rc)
    client.username_pw_set("GAS-100", password)
    client.connect("127.0.0.1", mqtt_broker["port"])
    client.loop_start()
    info = client.publish(topic_for("GAS-100"), _reading(1, 1.0), qos=1)
    assert _wait(lambda: info.mid in acks, 5)
    client.loop_stop()
    client.disconnect()
    assert not acks[info.mid].is_failure
    # switched off: the next sync takes its account away
    Sensor.objects.filter(code="GAS-100").update(active=False)
    assert broker.sync(mqtt_broker["dir"], mqtt_broker["port"]) is True
    assert "GAS-100" not in (mqtt_broker["dir"] / "passwd").read_text()
    assert broker.sync(mqtt_broker["dir"], mqtt_broker["port"]) is False


def test_messages_held_when_the_broker_lost_the_session_are_stored_not_dropped(devices, mqtt_broker):
    """A broker that comes back without the ingest's session (a crash since its last save) will not send again
    what the ingest held: those readings are stored from the ingest's own copies."""
    from monitoring.ingest import MqttIngest

    west = devices["sensors"]["WL-001"]
    ingest = _ingest_holding(mqtt_broker, devices, 10)
    # The broker forgets the session: a clean-session connection under the ingest's client id discards it.
    forget = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=MqttIngest.CLIENT_ID, clean_session=True,
                         protocol=mqtt.MQTTv311)
    from monitoring.broker import ingest_password

    forget.username_pw_set("citygrid-ingest", ingest_password(mqtt_broker["dir"]))
    forget.connect("127.0.0.1", mqtt_broker["port"])
    forget.loop_start()
    assert _wait(forget.is_connected, 5)
    forget.disconnect()
    forget.loop_stop()
    ingest.start()
    assert ingest.connected.wait(5) and ingest.resumed[ingest.generation] is False
    thread = threading.Thread(target=lambda: (ingest.run(until=lambda: ingest.inbox.empty() and _count(west.pk) >= 10),
                                              connection.close()))
    thread.start()
    try:
        thread.join(20)
        assert _count(west.pk) == 10  # nothing was sent again; the held copies were stored
    finally:
        ingest.stopping.set()
        thread.join(5)
        ingest.stop()


def test_the_ingest_waits_for_a_broker_that_does_not_answer_yet(tmp_path):
    """`run_ingest` started before its broker (or while it restarts) waits for it, saying so, instead of exiting:
    unsupervised (`make run`), an ingest that gave up would leave every reading in the broker's queue."""
    import os
    import signal
    import subprocess
    import sys

    from django.conf import settings

    from monitoring import broker
    from tests.servers import database_url, free_port

    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "MQTT_URL": f"mqtt://127.0.0.1:{port}",
           "MQTT_DIR": str(tmp_path), "LOG_LEVEL": "INFO"}
    broker.ingest_password(tmp_path)  # the broker is configured, not started
    ingest = subprocess.Popen([sys.executable, "manage.py", "run_ingest"], cwd=settings.BASE_DIR, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(ingest.stdout), daemon=True)
    reader.start()

    def said(text: str, seconds: float = 60) -> bool:
        # By what it says, not by the clock: on a loaded machine the command takes seconds to start at all.
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and ingest.poll() is None:
            if any(text in line for line in list(lines)):
                return True
            time.sleep(0.2)
        return any(text in line for line in list(lines))

    try:
        assert said("the broker does not answer"), "".join(lines)
        assert ingest.poll() is None, "".join(lines)  # still there, waiting
        broker.start(tmp_path, port, registry=False)
        try:
            assert said(f"connected to 127.0.0.1:{port}"), "".join(lines)  # it tries every RETRY_S
            assert ingest.poll() is None
        finally:
            ingest.send_signal(signal.SIGTERM)
            ingest.wait(timeout=30)
            reader.join(timeout=10)
            broker.stop(tmp_path)
    finally:
        if ingest.poll() is None:
            ingest.kill()
    out = "".join(lines)
    assert "the broker does not answer" in out and f"connected to 127.0.0.1:{port}" in out, out
    assert ingest.returncode == 0, out


def test_another_brokers_port_is_refused_in_one_line_unless_it_takes_the_ingests_account(tmp_path):
    """A second installation (another checkout) finds the first one's broker on its port: its ingest would be
    refused for ever, so the start says so, in one line; the first installation's own start reloads its broker."""
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.test import override_settings

    from monitoring import broker
    from tests.servers import free_port

    port = free_port()
    first, second = tmp_path / "first", tmp_path / "second"
    with override_settings(MQTT_URL=f"mqtt://127.0.0.1:{port}", MQTT_DIR=first):
        broker.start(first, port, registry=False)
    try:
        said = rf"another broker answers on 127.0.0.1:{port} and does not take this installation's ingest account"
        with (override_settings(MQTT_URL=f"mqtt://127.0.0.1:{port}", MQTT_DIR=second),
              pytest.raises(CommandError, match=said + r" \(.*Not authorized.*\): stop it")):
            call_command("mqtt_broker", "start")
        with override_settings(MQTT_URL=f"mqtt://127.0.0.1:{port}", MQTT_DIR=first):
            assert "reloaded" in broker.start(first, port, registry=False)
    finally:
        broker.stop(first)
