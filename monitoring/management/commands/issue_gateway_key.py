"""manage.py issue_gateway_key CODE [--bureau CODE] — a gateway's key for the HTTP batch endpoint and MQTT."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from grids.models import Bureau
from monitoring import broker
from monitoring.models import Gateway


class Command(BaseCommand):
    help = ("Create a gateway (or give it a new key) and print the key once: for POST /api/monitoring/readings/ "
            "(Authorization: Gateway <key>) and as its MQTT password (user gateway-CODE).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("code")
        parser.add_argument("--bureau", help="the bureau whose sensors it may submit for (default: every sensor)")

    def handle(self, *args, code: str, bureau: str | None, **options) -> None:
        owner = None
        if bureau:
            owner = Bureau.objects.filter(code=bureau).first()
            if owner is None:
                raise CommandError(f"unknown bureau {bureau}")
        gateway = Gateway.objects.filter(code=code).first() or Gateway(code=code)
        gateway.bureau = owner
        key = gateway.set_new_key()
        try:
            gateway.mqtt_hash = broker.hash_passwords({f"gateway-{code}": key})[f"gateway-{code}"]
        except broker.BrokerError as exc:
            raise CommandError(str(exc)) from exc
        try:
            gateway.full_clean(exclude=["key_hash", "mqtt_hash"])
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        gateway.save()
        self.stdout.write(key)
