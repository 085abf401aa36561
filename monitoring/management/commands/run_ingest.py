"""manage.py run_ingest — readings from the product's Mosquitto into the database until stopped."""

import logging
import signal

from django.core.management.base import BaseCommand, CommandError

from monitoring import broker
from monitoring.ingest import MqttIngest

log = logging.getLogger("citygrid.ingest")
RETRY_S = 2


class Command(BaseCommand):
    help = "Store sensor readings from MQTT (QoS 1, persistent session, acknowledged after commit) until stopped."

    def handle(self, *args, **options) -> None:
        from monitoring.alarms import on_stored

        try:
            ingest = MqttIngest(on_stored=on_stored)
        except (broker.BrokerError, OSError) as exc:
            raise CommandError(f"cannot reach the broker: {exc}") from exc
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: ingest.stopping.set())
        # A broker that does not answer yet is waited for: an ingest that gave up (unsupervised, under `make run`)
        # would leave every reading in the broker's queue until someone noticed.
        if not ingest.start_waiting(RETRY_S):
            return
        try:
            ingest.run()
        finally:
            ingest.stop()
            t = ingest.totals
            log.info("ingest stopped: %d stored, %d duplicates, refused %s", t.stored, t.duplicates, t.refused)
