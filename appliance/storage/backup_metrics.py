"""The backups' Prometheus metrics, served with the hub's own at /hub/metrics: read at each scrape from the status
the last runs kept in DATA_DIR (the runs happen in the backups service or a command, not in the hub process)."""

from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from appliance.declarations import Settings
from appliance.storage.backups import read_status

REGISTERED: list["BackupMetrics"] = []


class BackupMetrics(Collector):
    def __init__(self, settings: Settings):
        self.settings = settings

    def collect(self):
        status = read_status(self.settings)
        yield GaugeMetricFamily(
            "appliance_backup_last_success_timestamp_seconds",
            "When the last backup of users' files succeeded (0: never)",
            value=status.last_success,
        )
        yield GaugeMetricFamily(
            "appliance_backup_last_run_timestamp_seconds",
            "When the last backup of users' files started",
            value=status.last_run,
        )
        yield GaugeMetricFamily(
            "appliance_backup_last_run_failed",
            "1 when the last backup of users' files failed",
            value=int(bool(status.last_error)),
        )
        yield GaugeMetricFamily(
            "appliance_backup_duration_seconds",
            "How long the last successful backup took",
            value=status.duration_seconds,
        )
        added = GaugeMetricFamily(
            "appliance_backup_bytes_added",
            "Bytes the last successful backup added to the repository, per user",
            labels=["user"],
        )
        total = GaugeMetricFamily(
            "appliance_backup_bytes_total", "Bytes of each user's files in the last successful backup", labels=["user"]
        )
        for user, sizes in sorted(status.users.items()):
            added.add_metric([user], sizes["bytes_added"])
            total.add_metric([user], sizes["bytes_total"])
        yield added
        yield total  # fmt: skip


def register(settings: Settings) -> None:
    """Once per process (the hub loads its config once; a second load must not register twice)."""
    if settings["BACKUP_REPOSITORY"] is None:
        return
    if not REGISTERED:
        REGISTERED.append(BackupMetrics(settings))
        REGISTRY.register(REGISTERED[0])
