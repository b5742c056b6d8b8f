"""Users' disk use and quotas (homes with quotas) as Prometheus gauges with the hub's own at /hub/metrics, from the
last reading kept in DATA_DIR. The hub reads the homes again every READ_EVERY_SECONDS, in a thread of its own (the
storage helper takes about half a second); `appliance storage` and the doctor read them too."""

import logging
import threading
import time

import docker.errors
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from appliance import docker_host
from appliance.declarations import Settings
from appliance.storage import quotas

READ_EVERY_SECONDS = 300
REGISTERED: list["StorageMetrics"] = []
log = logging.getLogger("appliance.storage")


class StorageMetrics(Collector):
    def __init__(self, settings: Settings):
        self.settings = settings

    def collect(self):
        read_at, homes = quotas.recorded_usage(self.settings)
        yield GaugeMetricFamily(
            "appliance_user_storage_read_timestamp_seconds", "When users' homes were last read (0: never)", read_at
        )
        used = GaugeMetricFamily(
            "appliance_user_disk_used_bytes", "Bytes in each user's home", labels=["user", "volume"]
        )
        quota = GaugeMetricFamily(
            "appliance_user_disk_quota_bytes", "Each user's home's quota", labels=["user", "volume"]
        )
        for home in homes:
            if home.used is not None:
                used.add_metric([home.user, home.volume], home.used)
            if home.limit is not None:
                quota.add_metric([home.user, home.volume], home.limit)
        yield used
        yield quota


def read_periodically(settings: Settings) -> None:
    while True:
        try:
            quotas.usage(docker_host.client(timeout=quotas.HELPER_SECONDS), settings)
        except (quotas.StorageError, docker.errors.DockerException, OSError) as error:
            log.warning("Reading users' disk use failed: %s", error)
        time.sleep(READ_EVERY_SECONDS)


def register(settings: Settings) -> None:
    """Once per process (the hub loads its config once; a second load must not register twice)."""
    if quotas.quota_homes(settings) is None or REGISTERED:
        return
    REGISTERED.append(StorageMetrics(settings))
    REGISTRY.register(REGISTERED[0])
    threading.Thread(target=read_periodically, args=(settings,), name="user-storage-usage", daemon=True).start()
