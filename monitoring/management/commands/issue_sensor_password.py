"""manage.py issue_sensor_password CODE… — new broker passwords for sensors, printed once."""

from django.core.management.base import BaseCommand, CommandError

from monitoring import broker
from monitoring.models import Sensor


class Command(BaseCommand):
    help = ("Give sensors new MQTT passwords (user: the sensor's code, topic citygrid/sensors/CODE), print them once "
            "(only their hashes are kept) and rewrite the broker's files.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("codes", nargs="+")

    def handle(self, *args, codes: list[str], **options) -> None:
        sensors = list(Sensor.objects.filter(code__in=codes))
        missing = sorted(set(codes) - {s.code for s in sensors})
        if missing:
            raise CommandError(f"unknown sensors: {', '.join(missing)}")
        try:
            passwords = broker.issue_sensor_passwords(sensors)
            broker.sync()
        except (broker.BrokerError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        for code in codes:
            self.stdout.write(f"{code} {passwords[code]}")
