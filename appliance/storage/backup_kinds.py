"""The value kinds of the backup settings: where restic keeps the snapshots, when backups run, how many stay."""

import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from appliance.kinds import Invalid

# The restic repository URLs the appliance can give credentials to: rest (restic's rest-server; user and password
# in the URL) and s3 (BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY). Other backends need files or
# programs (an SSH key and client, a cloud's credentials file) that the helpers do not carry.
REPOSITORY_SCHEMES = ("rest", "s3")
UNSUPPORTED_SCHEMES = ("sftp", "b2", "azure", "gs", "swift", "rclone")
RETENTION_PERIODS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SHORTEST_INTERVAL_SECONDS = 10


@dataclass(frozen=True)
class Repository:
    """A folder on the host (mounted where restic runs) or a restic repository URL."""

    raw: str

    @property
    def host_path(self) -> str:
        return self.raw if self.raw.startswith("/") else ""

    def __str__(self) -> str:
        return self.raw


@dataclass(frozen=True)
class BackupRepository:
    @property
    def allowed(self) -> str:
        schemes = ", ".join(f"{scheme}:" for scheme in REPOSITORY_SCHEMES)
        return f"an absolute folder on the host, or a restic repository URL ({schemes})"

    def __call__(self, raw: str) -> Repository:
        if raw.startswith("/"):
            if os.path.normpath(raw) != raw or raw == "/":
                raise Invalid(f"must be {self.allowed}; a folder other than /, with no trailing slash and no ..")
            return Repository(raw)
        scheme = raw.split(":", 1)[0]
        if scheme in UNSUPPORTED_SCHEMES:
            raise Invalid(
                f"must be {self.allowed}: restic's {scheme}: backend needs files or programs that the appliance's "
                "helpers do not carry (serve it with restic's rest-server, or use s3:)"
            )
        if ":" not in raw or scheme not in REPOSITORY_SCHEMES or not raw.split(":", 1)[1]:
            raise Invalid(f"must be {self.allowed}")
        return Repository(raw)


@dataclass(frozen=True)
class Schedule:
    """Every `interval` seconds, or each day at `time_of_day` (HH:MM, UTC)."""

    raw: str
    interval: int = 0
    time_of_day: tuple[int, int] | None = None

    def next_run(self, after: datetime) -> datetime:
        """The first run due after `after` (the last run): an interval later, or the next time of day."""
        if self.interval:
            return after + timedelta(seconds=self.interval)
        hour, minute = self.time_of_day or (0, 0)
        same_day = after.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return same_day if same_day > after else same_day + timedelta(days=1)

    @property
    def period_seconds(self) -> int:
        return self.interval or 86400

    def __str__(self) -> str:
        return self.raw


@dataclass(frozen=True)
class BackupSchedule:
    @property
    def allowed(self) -> str:
        return (
            f"off, a time of day in UTC such as 02:30, or an interval such as 6h, 30m or 1d (at least "
            f"{SHORTEST_INTERVAL_SECONDS}s)"
        )

    def __call__(self, raw: str) -> Schedule | None:
        if raw == "off":
            return None
        if match := re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", raw):
            return Schedule(raw, time_of_day=(int(match[1]), int(match[2])))
        if match := re.fullmatch(r"(\d+)([smhd])", raw):
            seconds = int(match[1]) * UNIT_SECONDS[match[2]]
            if seconds >= SHORTEST_INTERVAL_SECONDS:
                return Schedule(raw, interval=seconds)
        raise Invalid(f"must be {self.allowed}")


@dataclass(frozen=True)
class Retention:
    """How many snapshots of each volume restic keeps, by period: restic forget's --keep-<period> N."""

    raw: str
    keep: tuple[tuple[str, int], ...]

    def __str__(self) -> str:
        return self.raw


@dataclass(frozen=True)
class BackupRetention:
    @property
    def allowed(self) -> str:
        return f"comma-separated PERIOD=COUNT with PERIOD one of {', '.join(RETENTION_PERIODS)}, e.g. daily=7,weekly=4"

    def __call__(self, raw: str) -> Retention:
        keep = []
        for part in raw.split(","):
            period, _, count = part.strip().partition("=")
            if period not in RETENTION_PERIODS or not count.isdigit() or int(count) < 1:
                raise Invalid(f"must be {self.allowed} (counts of at least 1); {part.strip()!r} is not")
            keep.append((period, int(count)))
        if len({period for period, _ in keep}) != len(keep):
            raise Invalid(f"names a period twice; it must be {self.allowed}")
        return Retention(raw, tuple(keep))
