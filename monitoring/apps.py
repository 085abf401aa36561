from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MonitoringConfig(AppConfig):
    """Lifeline monitoring: sensors over MQTT, readings, alarms that raise cases through incidents."""

    name = "monitoring"
    verbose_name = _("Lifeline monitoring")

    def ready(self) -> None:
        from .scoping import register_scopes

        register_scopes()

    def scheduled_jobs(self) -> list:
        """Run by dispatch's scheduler (run_scheduler): months of readings' partitions made ahead and old raw
        months dropped, daily and at start; silent sensors every minute."""
        from django.utils import timezone

        from . import readings

        def partitions() -> str:
            made, dropped = readings.ensure_partitions(2), readings.drop_expired()
            return f"readings: {made} monthly partitions made, {dropped} expired dropped"

        def silent() -> str:
            from .alarms import check_silent

            return f"sensors: {check_silent()} fell silent"

        return [("readings-partitions", partitions, {"trigger": "cron", "hour": 2, "minute": 10,
                                                      "next_run_time": timezone.now()}),
                ("silent-sensors", silent, {"trigger": "interval", "seconds": 60, "next_run_time": timezone.now()})]

    def load_demo(self) -> str:
        """load_demo's part: the demo city's sensors (idempotent)."""
        from .demo import load_demo_sensors

        return f"demo sensors: {load_demo_sensors()} added"
