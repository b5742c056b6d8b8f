"""Backups of users' files, as the doctor sees them: the password there, the repository opening with it, and the
last successful run recent enough for BACKUP_SCHEDULE."""

import time

import docker.errors

from appliance import docker_host
from appliance.declarations import Outcome, Settings, failed, passed, warned
from appliance.storage import backups
from appliance.storage.backups import BackupError, RunStatus

# Past this many scheduled periods without a successful backup: a warning, then a failure.
WARN_PERIODS, FAIL_PERIODS = 2, 4


def check_backups(settings: Settings) -> Outcome:
    where = backups.redacted(backups.repository_of(settings))
    try:
        backups.password_of(settings)
    except BackupError as error:
        return failed(str(error), "set BACKUP_PASSWORD, or put your safe copy back in DATA_DIR/secrets/backup_password")
    status = backups.read_status(settings)
    try:
        backups.reachable(docker_host.client(), settings)
    except (BackupError, docker.errors.DockerException) as error:
        if not status.last_run and "no repository" in str(error):  # nothing tried yet: the first run makes it
            return warned(f"no backup has run yet ({where} has no repository)", "`appliance backup --users` makes it")
        return failed(f"the repository {where} cannot be opened: {error}",
                      "check that BACKUP_REPOSITORY is reachable and BACKUP_PASSWORD is its password")  # fmt: skip
    return recent_enough(settings, status, where, time.time())


def recent_enough(settings: Settings, status: RunStatus, where: str, now: float) -> Outcome:
    schedule = settings["BACKUP_SCHEDULE"]
    last = f"last success {hours(now - status.last_success)} ago" if status.last_success else "no success yet"
    failing = f"; the last run failed: {status.last_error}" if status.last_error else ""
    fix = "read the hub's log (backups service) or run `appliance backup --users` to see why"
    if schedule is None:
        return passed(f"{where} opens; schedule off, {last}{failing}")
    age = now - status.last_success if status.last_success else now - status.last_run if status.last_run else 0
    if age > FAIL_PERIODS * schedule.period_seconds:
        return failed(f"{last}, more than {FAIL_PERIODS} periods of {schedule}{failing}", fix)
    if age > WARN_PERIODS * schedule.period_seconds:
        return warned(f"{last}, more than {WARN_PERIODS} periods of {schedule}{failing}", fix)
    if failing and status.last_run > status.last_success:
        return warned(f"{last}{failing}", fix)
    return passed(f"{where} opens; {last} (schedule {schedule})")


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"
