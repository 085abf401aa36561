from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MonitoringConfig(AppConfig):
    """Lifeline monitoring: sensors over MQTT, readings, alarms that raise cases through incidents."""

    name = "monitoring"
    verbose_name = _("Lifeline monitoring")

    def ready(self) -> None:
        from .scoping import register_scopes

        register_scopes()
        from incidents.archive import register_archive_guard

        # An episode still running keeps its case live: its next reading would raise the case anew.
        register_archive_guard("alarm episode(s) still running", """
            SELECT count(*), min(c.number) FROM monitoring_alarmepisode e JOIN incidents_case c ON c.id = e.case_id
            WHERE c.created_at < %(upto)s AND e.ended_at IS NULL""")
        # A sensor still silent keeps the case its silence raised: hearing it again notes it there.
        register_archive_guard("silent sensor(s) not heard again", """
            SELECT count(*), min(c.number) FROM monitoring_silence s JOIN incidents_case c ON c.id = s.case_id
            WHERE c.created_at < %(upto)s AND s.ended_at IS NULL""")
        from grids.generations import register_live_reference

        for field in ("cell", "district"):  # a sensor is where it stands now
            register_live_reference("monitoring.Sensor", field)

    def scheduled_jobs(self) -> list:
        """Run by dispatch's scheduler (run_scheduler): months of readings' partitions made ahead and old raw
        months dropped, daily and at start; silent sensors and the broker's files from the registry every minute."""
        from django.utils import timezone

        from . import readings

        def partitions() -> str:
            made, dropped = readings.ensure_partitions(2), readings.drop_expired()
            return f"readings: {made} monthly partitions made, {dropped} expired dropped"

        def silent() -> str:
            from .alarms import check_silent

            return f"sensors: {check_silent()} fell silent"

        def broker_files() -> str:
            from . import broker

            try:
                return "broker: " + ("files rewritten, reloaded" if broker.sync() else "files current")
            except (broker.BrokerError, OSError) as exc:
                return f"broker: {exc}"

        return [("broker-files", broker_files, {"trigger": "interval", "seconds": 60, "next_run_time": timezone.now()}),
                ("readings-partitions", partitions, {"trigger": "cron", "hour": 2, "minute": 10,
                                                      "next_run_time": timezone.now()}),
                ("silent-sensors", silent, {"trigger": "interval", "seconds": 60, "next_run_time": timezone.now()})]

    def load_demo(self) -> str:
        """load_demo's part: the demo city's sensors (idempotent)."""
        from .demo import load_demo_sensors

        return f"demo sensors: {load_demo_sensors()} added"
