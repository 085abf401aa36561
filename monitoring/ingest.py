"""The ingest: readings from MQTT (and from gateways over HTTP) into the database in batches, at least once and
stored once.

At least once: the ingest subscribes with QoS 1 in a persistent session (a fixed client id, clean_session off)
and acknowledges a message only after the batch holding it is committed (paho 2's manual_ack). A reading the
ingest never committed — it stopped, the database failed — is therefore redelivered by the broker, to this
process or the next one. Stored once: a redelivered reading is the same (sensor, seq, time) and the insert
skips it (monitoring.readings.store). A bad reading is refused, counted and acknowledged: a redelivery would
not make it better, and it must not block the ones behind it."""

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from . import readings
from .models import TOPIC_PREFIX

log = logging.getLogger("citygrid.ingest")

# After a reading with an unknown sensor code, the registry is read again, at most this often (a sensor added
# in the admin is accepted without a restart, and a flood of junk codes costs one query per interval); and in
# any case this often, so that a sensor switched off is refused soon.
REGISTRY_REFRESH_S = 5.0
REGISTRY_MAX_AGE_S = 60.0
# A batch slower than this is logged with its phases: a reading's way to an alarm is its batch's time.
SLOW_BATCH_S = 1.0


@dataclass
class BatchResult:
    stored: int = 0
    duplicates: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    refused_items: list[tuple[int, str]] = field(default_factory=list)  # (index in the batch, reason)
    seconds: dict[str, float] = field(default_factory=dict)  # time spent by phase: parse, store, alarms


class Registry:
    """The active sensors, as the ingest checks readings against them."""

    def __init__(self, allowed: Callable[[], dict] | None = None):
        self._load = allowed or readings.sensor_table
        self.table = self._load()
        self.loaded_at = time.monotonic()

    def lookup(self, codes: Iterable[str]) -> dict:
        age = time.monotonic() - self.loaded_at
        if age > REGISTRY_MAX_AGE_S or (age > REGISTRY_REFRESH_S and any(c not in self.table for c in codes)):
            self.table = self._load()
            self.loaded_at = time.monotonic()
        return self.table


def process(items: list[tuple[str, object]], registry: Registry, on_stored=None, *, quiet: bool = True) -> BatchResult:
    """Check and store (sensor code, payload) pairs in one transaction; refusals counted in the same one, so a
    batch that fails leaves no count behind and is redelivered whole."""
    result = BatchResult()
    t0 = time.perf_counter()
    table = registry.lookup(code for code, _ in items)
    now = timezone.now()
    good: list[readings.Reading] = []
    refused: dict[str, tuple[int, str]] = {}
    for index, (code, payload) in enumerate(items):
        try:
            good.append(readings.parse(code, payload, table, now))
        except readings.Refused as exc:
            n, _ = refused.get(exc.reason, (0, ""))
            refused[exc.reason] = (n + 1, exc.detail)
            result.refused_items.append((index, exc.reason))
    t1 = time.perf_counter()
    t2 = t1
    with transaction.atomic():
        # With the alarm engine, sensors at rest reading normal are moved in the insert's own statement, and only
        # the rest come back to it (readings.store, quiet): most readings cost no Python after parsing.
        count, new = readings.store(good, quiet=quiet and on_stored is not None)
        t2 = time.perf_counter()
        if refused:
            readings.count_refused(refused, now)
        if on_stored is not None and new:
            on_stored(new)  # the alarm engine, in the same transaction: an episode is never ahead of its readings
    result.stored, result.duplicates = count, len(good) - count
    result.seconds = {"parse": t1 - t0, "store": t2 - t1, "alarms": time.perf_counter() - t2}
    result.refused = {reason: n for reason, (n, _) in refused.items()}
    if refused:
        log.warning("refused readings: %s", ", ".join(f"{r} {n}" for r, (n, _) in sorted(refused.items())))
    return result


def code_of(topic: str) -> str:
    return topic[len(TOPIC_PREFIX):] if topic.startswith(TOPIC_PREFIX) else ""


class MqttIngest:
    """One ingest process: paho's network thread queues messages, this one stores them in batches and only then
    acknowledges them."""

    CLIENT_ID = "citygrid-ingest"

    def __init__(self, url: str | None = None, password: str | None = None, *, client_id: str | None = None,
                 on_stored=None, batch_max: int | None = None, batch_seconds: float | None = None):
        import paho.mqtt.client as mqtt

        from . import broker

        self.where = broker.endpoint(url)
        self.batch_max = batch_max or settings.INGEST_BATCH_MAX
        self.batch_seconds = batch_seconds if batch_seconds is not None else settings.INGEST_BATCH_SECONDS
        self.on_stored = on_stored
        self.inbox: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.totals = BatchResult()
        self.registry = Registry()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or self.CLIENT_ID,
                                  clean_session=False, protocol=mqtt.MQTTv311, manual_ack=True)
        self.client.username_pw_set(settings.MQTT_INGEST_USER, password or broker.ingest_password())
        self.client.max_queued_messages_set(0)
        # paho backs off up to 120 s between attempts; a broker restarted for an upgrade is back in seconds, and the
        # readings wait in its queue for this one consumer, so try again every few seconds at most.
        self.client.reconnect_delay_set(min_delay=0.5, max_delay=5)
        self.client.on_connect = self._on_connect
        # Acknowledgements go on the connection a message came by: one received before a reconnect is left
        # unacknowledged, and a broker that kept the session sends it again.
        self.generation = 0
        self.resumed: dict[int, bool] = {}  # connection → whether the broker had kept the session for it
        self.client.on_message = lambda client, userdata, msg: self.inbox.put(
            (self.generation, msg, readings.split_message(code_of(msg.topic), msg.payload)))
        self.client.on_disconnect = lambda *a, **k: self.connected.clear()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("ingest: the broker refused the connection: %s", reason_code)
            return
        self.generation += 1
        self.resumed[self.generation] = bool(flags.session_present)
        client.subscribe(TOPIC_PREFIX + "+", qos=1)
        self.connected.set()
        log.info("ingest: connected to %s:%d (session present: %s)", self.where.host, self.where.port,
                 flags.session_present)

    def start(self) -> None:
        self.client.connect(self.where.host, self.where.port, keepalive=30)
        self.client.loop_start()

    def start_waiting(self, retry_s: float = 2.0) -> bool:
        """Connect, waiting for a broker that does not answer yet (restarting, or started after this service):
        readings wait in its queue meanwhile. False if stopped first."""
        while not self.stopping.is_set():
            try:
                self.start()
                return True
            except OSError as exc:
                log.warning("ingest: the broker does not answer (%s); trying again in %g s", exc, retry_s)
                self.stopping.wait(retry_s)
        return False

    def _sent_again(self, generation: int) -> bool:
        """Whether the broker sends a message of that connection again: every reconnect since found the session
        kept. A broker that lost it (a crash since its last save) will not, and what is here must be stored."""
        return all(self.resumed.get(g, False) for g in range(generation + 1, self.generation + 1))

    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Store batches until stopped (or `until()` says so); a failed batch is not acknowledged and comes again."""
        while not self.stopping.is_set() and not (until and until()):
            # A message received before a reconnect cannot be acknowledged any more, and a broker that kept the
            # session sends it again: storing it now would only make the second copy a duplicate to check (after a
            # broker restart, a whole in-flight window of them, ahead of newer readings such as an alarm).
            batch = [item for item in self._next_batch()
                     if item[0] == self.generation or not self._sent_again(item[0])]
            if not batch:
                continue
            try:
                close_old_connections()
                result = process([item for _, _, items in batch for item in items], self.registry, self.on_stored)
            except Exception:
                # Nothing acknowledged: the broker redelivers these on reconnect. Reconnect now, so that it does.
                log.exception("ingest: a batch of %d failed; not acknowledged, reconnecting", len(batch))
                self.client.disconnect()
                self.client.loop_stop()
                self._drain()
                if self.stopping.wait(1) or not self.start_waiting():
                    break  # stopped meanwhile
                continue
            if sum(result.seconds.values()) > SLOW_BATCH_S:
                log.warning("ingest: a batch of %d readings (%d new) took %s", sum(len(i) for _, _, i in batch),
                            result.stored, ", ".join(f"{k} {v:.2f} s" for k, v in result.seconds.items()))
            for generation, m, _ in batch:
                if generation == self.generation:
                    self.client.ack(m.mid, m.qos)
            self.totals.stored += result.stored
            self.totals.duplicates += result.duplicates
            for reason, n in result.refused.items():
                self.totals.refused[reason] = self.totals.refused.get(reason, 0) + n

    def _next_batch(self) -> list:
        try:
            first = self.inbox.get(timeout=0.5)
        except queue.Empty:
            return []
        batch = [first]
        count = len(first[2])  # readings, not messages: a message may hold many
        deadline = time.monotonic() + self.batch_seconds
        while count < self.batch_max:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(self.inbox.get(timeout=left))
            except queue.Empty:
                break
            count += len(batch[-1][2])
        return batch

    def _drain(self) -> None:
        while True:
            try:
                self.inbox.get_nowait()
            except queue.Empty:
                return

    def stop(self) -> None:
        """Stop taking messages; whatever was received and not committed stays unacknowledged with the broker."""
        self.stopping.set()
        self.client.disconnect()
        self.client.loop_stop()
