"""The hub's `backups` service: backs users' files up on BACKUP_SCHEDULE (the same code as `appliance backup
--users`), and serves users' restore page (appliance.storage.restore_page) at /services/backups/."""

import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import docker.errors

from appliance import docker_host
from appliance.declarations import Settings, present
from appliance.profiles.model import ProfilesFile
from appliance.settings import SettingsError, load
from appliance.storage import backups
from appliance.storage.backups import BackupError

SERVICE_NAME = "backups"
# What the service reads of the hub's settings; the hub passes them rendered in its environment.
SERVICE_SETTINGS = (
    "APPLIANCE_INSTANCE",
    "DATA_DIR",
    "DATABASE_URL",
    "DATABASE_PASSWORD_FILE",
    "DOCKER_NETWORK",
    "SPAWNER_MODE",
    "SINGLEUSER_IMAGE",
    "ALLOWED_IMAGES",
    "PROFILES_FILE",
    "BACKUP_REPOSITORY",
    "BACKUP_PASSWORD",
    "BACKUP_S3_ACCESS_KEY_ID",
    "BACKUP_S3_SECRET_ACCESS_KEY",
    "BACKUP_SCHEDULE",
    "BACKUP_KEEP",
    "BACKUP_SHARED_VOLUMES",
)
log = logging.getLogger("appliance.backups")


def rendered(value: object) -> str:
    """A parsed setting written back as the environment would hold it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(one) for one in value)
    if isinstance(value, ProfilesFile):
        return value.path
    return str(value)


def service_environment(settings: Settings) -> dict[str, str]:
    """The service's settings for its environment (JupyterHub passes a service no other); a schedule that is off
    as `off`, the stored backup password left to the service to read from DATA_DIR."""
    values = {name: settings[name] for name in SERVICE_SETTINGS}  # type: ignore[literal-required]
    environment = {name: rendered(value) for name, value in values.items() if value is not None}
    environment["BACKUP_SCHEDULE"] = rendered(settings["BACKUP_SCHEDULE"] or "off")
    return environment


# -- the schedule ------------------------------------------------------------------------------------------------


class Scheduler(threading.Thread):
    """Runs a backup whenever BACKUP_SCHEDULE says; each run's outcome is one log line (and the status file)."""

    def __init__(self, settings: Settings):
        super().__init__(name="backup-schedule", daemon=True)
        self.settings, self.stopping = settings, threading.Event()
        self.started, self.attempted = datetime.now(UTC), 0.0

    def run(self) -> None:
        while not self.stopping.is_set():
            wait = (self.due() - datetime.now(UTC)).total_seconds()
            if wait > 0:
                self.stopping.wait(min(wait, 60))  # checked again each minute: a command's run moves the next one
                continue
            self.attempted = time.time()
            run_once(self.settings)

    def due(self) -> datetime:
        """After the last run (a command's too, or this schedule's last attempt, even a refused one); with no run
        yet, an interval schedule runs at once and a daily one at its next time."""
        schedule = present(self.settings["BACKUP_SCHEDULE"])
        last = max(backups.read_status(self.settings).last_run, self.attempted)
        if last:
            return schedule.next_run(datetime.fromtimestamp(last, UTC))
        return self.started if schedule.interval else schedule.next_run(self.started)


def run_once(settings: Settings) -> None:
    log.info("Scheduled backup of users' files (%s): starting", settings["BACKUP_SCHEDULE"])
    try:
        status = backups.back_up(docker_host.client(timeout=backups.RUN_SECONDS), settings, log.info)
    except (BackupError, docker.errors.DockerException) as error:
        log.error("Scheduled backup failed: %s", error)
        return
    except Exception:  # the schedule goes on; the next run says again what is wrong
        log.exception("Scheduled backup failed")
        return
    log.info("Scheduled backup: %s", backups.summary(status))


def run(args) -> int:
    logging.basicConfig(level=logging.INFO, format="[%(levelname).1s %(asctime)s backups] %(message)s",
                        stream=sys.stdout)  # fmt: skip
    try:
        settings = load(os.environ, only=SERVICE_SETTINGS)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    if settings["BACKUP_SCHEDULE"] and not args.no_schedule:
        Scheduler(settings).start()
    from tornado import ioloop

    from appliance.storage.restore_page import application  # JupyterHub's service auth: only in this process

    url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
    application(settings, os.environ["JUPYTERHUB_SERVICE_PREFIX"]).listen(url.port or 80, url.hostname)
    log.info("Serving users' restore page at %s; schedule: %s", os.environ["JUPYTERHUB_SERVICE_PREFIX"],
             settings["BACKUP_SCHEDULE"] or "off")  # fmt: skip
    try:
        ioloop.IOLoop.current().start()
    except KeyboardInterrupt:
        if backups.stop_running_helpers(docker_host.client()):
            log.warning("Stopped with the hub during a backup or restore: it is abandoned (the next run starts over)")
        log.info("Stopped with the hub")
    return 0
