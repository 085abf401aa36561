"""manage.py mqtt_broker [start|write|reload|stop] — the product's own Mosquitto, from the sensor registry."""

from django.core.management.base import BaseCommand, CommandError

from monitoring import broker


class Command(BaseCommand):
    help = ("start: write the broker's configuration, password file and ACL from the registry and start Mosquitto "
            "on MQTT_URL's port where nothing answers (reload it where ours runs); write: the files only; "
            "reload: make the running broker read them again; stop.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["start", "write", "reload", "stop"], nargs="?", default="start")

    def handle(self, *args, action: str, **options) -> None:
        try:
            if action == "start":
                self.stdout.write(broker.start())
            elif action == "write":
                self.stdout.write(str(broker.write_config()))
            elif action == "reload":
                broker.write_config()
                self.stdout.write("reloaded" if broker.reload() else "no broker of ours is running: files written")
            else:
                self.stdout.write("stopped" if broker.stop() else "no broker of ours was running")
        except (broker.BrokerError, OSError) as exc:
            raise CommandError(str(exc)) from exc
