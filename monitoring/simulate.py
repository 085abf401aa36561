"""Realistic readings for the demo city's sensors, published over MQTT as their devices would (QoS 1, JSON with
time, value and sequence number): daily cycles and noise, and the incidents the demo shows — a water main burst
(pressure drops, flow surges), a rainstorm filling manholes, a gas leak, sensors going silent. The simulator
publishes as a gateway (`gateway-simulator`, its key issued afresh at every start and the broker reloaded), the
way a LoRa or NB-IoT gateway forwards for its devices."""

import json
import math
import random
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from .models import Sensor, topic_for

SCENARIOS = ("burst", "rainstorm", "gas_leak", "silent")
# Which kinds each incident moves, and toward what (a fraction of the way per minute of the incident).
AFFECTS = {"burst": {"pipe_pressure": 0.08, "pipe_flow": 2900.0},
           "rainstorm": {"manhole_level": 3.2},
           "gas_leak": {"gas": 45.0}}


@dataclass(frozen=True)
class Baseline:
    mean: float
    daily: float  # amplitude of the daily cycle
    noise: float
    peak_hour: float = 8.0  # hour of the day the cycle peaks


BASELINES = {
    "pipe_pressure": Baseline(0.42, 0.06, 0.008, peak_hour=3.0),  # highest at night, when nobody draws water
    "pipe_flow": Baseline(650.0, 320.0, 25.0, peak_hour=8.0),
    "manhole_level": Baseline(0.55, 0.12, 0.02, peak_hour=8.0),
    "gas": Baseline(0.6, 0.3, 0.3),
    "cover_tilt": Baseline(0.8, 0.1, 0.2),
    "bridge_strain": Baseline(180.0, 160.0, 15.0, peak_hour=17.5),  # rush hour traffic
    "cable_temp": Baseline(38.0, 9.0, 0.6, peak_hour=20.0),
}


def normal_value(kind: str, at: datetime, rnd: random.Random, phase: float = 0.0) -> float:
    b = BASELINES.get(kind, Baseline(1.0, 0.1, 0.05))
    hour = timezone.localtime(at).hour + timezone.localtime(at).minute / 60
    value = b.mean + b.daily * math.cos((hour - b.peak_hour) / 24 * 2 * math.pi + phase) + rnd.gauss(0, b.noise)
    return value


@dataclass
class SimSensor:
    code: str
    kind: str
    interval_s: float
    low: float
    high: float
    phase: float
    seq: int = 0
    next_at: float = 0.0
    incident: str = ""  # the scenario it takes part in
    silent: bool = False


@dataclass
class Simulation:
    sensors: list[SimSensor]
    scenario: str = ""
    after_s: float = 30.0  # the incident starts this long after the simulation
    ramp_s: float = 120.0  # and reaches its full strength over this long
    started: float = field(default_factory=time.monotonic)
    rnd: random.Random = field(default_factory=lambda: random.Random(16))

    def value(self, s: SimSensor, now: float, at: datetime) -> float:
        v = normal_value(s.kind, at, self.rnd, s.phase)
        if s.incident and now - self.started >= self.after_s:
            target = AFFECTS.get(s.incident, {}).get(s.kind)
            if target is not None:
                strength = min(1.0, (now - self.started - self.after_s) / self.ramp_s)
                v = v + (target - v) * strength + self.rnd.gauss(0, abs(target) * 0.01)
        return min(max(v, s.low), s.high)

    def due(self, now: float) -> list[tuple[SimSensor, dict]]:
        """The readings due now: (sensor, payload)."""
        at = timezone.now()
        out = []
        for s in self.sensors:
            if s.next_at > now:
                continue
            s.next_at = now + s.interval_s
            if s.silent and now - self.started >= self.after_s:
                continue
            s.seq += 1
            out.append((s, {"t": at.isoformat(), "v": round(self.value(s, now, at), 4), "seq": s.seq}))
        return out


def plan(sensors: list[Sensor], scenario: str = "", interval_s: float | None = None, share: float = 0.3,
         seed: int = 16) -> Simulation:
    """Which sensors take part in the scenario: a share of the kinds it moves (the silent one: of every kind),
    chosen reproducibly; sequence numbers go on from the time so that a restarted simulator never repeats one."""
    rnd = random.Random(seed)
    base_seq = int(time.time())
    sims = []
    for s in sensors:
        sim = SimSensor(code=s.code, kind=s.kind.code, interval_s=interval_s or s.interval_s,
                        low=s.kind.physical_min, high=s.kind.physical_max, phase=rnd.uniform(-0.3, 0.3),
                        seq=base_seq, next_at=time.monotonic() + rnd.uniform(0, interval_s or s.interval_s))
        if scenario == "silent":
            sim.silent = rnd.random() < min(share, 0.1)
        elif scenario in AFFECTS and sim.kind in AFFECTS[scenario]:
            sim.incident = scenario if rnd.random() < share else ""
        sims.append(sim)
    return Simulation(sims, scenario=scenario)


def gateway_client(url: str | None = None, client_id: str = "citygrid-simulator"):
    """A connected MQTT client of the simulator's gateway account, made (or given a new key) now."""
    import paho.mqtt.client as mqtt

    from . import broker
    from .models import Gateway

    gateway = Gateway.objects.filter(code="simulator").first() or Gateway(code="simulator", name="传感器模拟器")
    key = gateway.set_new_key()
    gateway.mqtt_hash = broker.hash_passwords({"gateway-simulator": key})["gateway-simulator"]
    gateway.bureau = None
    gateway.save()
    broker.write_config()
    broker.reload()  # returns once the broker has read them
    where = broker.endpoint(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    client.reconnect_delay_set(min_delay=0.5, max_delay=5)  # back soon after a broker restart (paho's cap: 120 s)
    client.username_pw_set("gateway-simulator", key)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(where.host, where.port, keepalive=30)
    client.loop_start()
    return client


def publish(client, readings: list[tuple[SimSensor, dict]]) -> list:
    return [client.publish(topic_for(s.code), json.dumps(payload, separators=(",", ":")), qos=1)
            for s, payload in readings]
