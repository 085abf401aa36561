"""manage.py simulate_sensors — realistic readings for the registry's active sensors over MQTT."""

import signal
import time

from django.core.management.base import BaseCommand, CommandError

from monitoring import broker
from monitoring.models import Sensor
from monitoring.simulate import SCENARIOS, gateway_client, plan, publish


class Command(BaseCommand):
    help = ("Publish readings for the active sensors over MQTT (QoS 1): daily cycles and noise, and an incident: "
            "burst (a water main: pressure drops, flow surges), rainstorm (manholes fill), gas_leak, silent (a few "
            "sensors stop reporting), starting --after seconds in.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--scenario", choices=["none", *SCENARIOS], default="none")
        parser.add_argument("--after", type=float, default=30.0, help="seconds before the incident starts")
        parser.add_argument("--ramp", type=float, default=60.0, help="seconds it takes to reach its full strength")
        parser.add_argument("--interval", type=float, default=None,
                            help="seconds between a sensor's readings (default: each sensor's own interval)")
        parser.add_argument("--share", type=float, default=0.3, help="share of the affected kinds' sensors in it")
        parser.add_argument("--duration", type=float, default=0.0, help="seconds to run (default: until stopped)")

    def handle(self, *args, scenario: str, after: float, ramp: float, interval: float | None, share: float,
               duration: float, **options) -> None:
        sensors = list(Sensor.objects.filter(active=True).select_related("kind"))
        if not sensors:
            raise CommandError("no active sensors: load the demo (manage.py load_demo) or import some")
        if interval is not None and not 0.05 <= interval <= 86400:
            raise CommandError("--interval must be between 0.05 and 86400 seconds")
        simulation = plan(sensors, "" if scenario == "none" else scenario, interval, share)
        simulation.after_s, simulation.ramp_s = after, max(ramp, 0.1)
        try:
            client = gateway_client()
        except (broker.BrokerError, OSError) as exc:
            raise CommandError(f"cannot reach the broker: {exc}") from exc
        stopping = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.append(True))
        sent, last_report, end = 0, time.monotonic(), time.monotonic() + duration if duration else None
        involved = sum(1 for s in simulation.sensors if s.incident or s.silent)
        self.stdout.write(f"simulating {len(sensors)} sensors, scenario {scenario} ({involved} involved) "
                          f"from {after:.0f} s")
        try:
            while not stopping and (end is None or time.monotonic() < end):
                now = time.monotonic()
                sent += len(publish(client, simulation.due(now)))
                if now - last_report >= 10:
                    self.stdout.write(f"{sent} readings published")
                    last_report = now
                time.sleep(0.05)
        finally:
            client.loop_stop()
            client.disconnect()
        self.stdout.write(f"{sent} readings published")
