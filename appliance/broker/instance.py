"""What the broker's policy knows of the appliance, read from the same settings (and profiles file) as the hub."""

import logging
import os
import socket
from collections.abc import Callable, Mapping

from appliance import profiles
from appliance.broker import unix_http
from appliance.broker.policy import Instance, normalised_image
from appliance.declarations import Settings
from appliance.profiles import DEFAULT_PROFILES_FILE
from appliance.servers.swarm import volume_driver_options
from appliance.settings import SettingsError, load
from appliance.storage.quotas import quota_homes

log = logging.getLogger("appliance.broker")
# The settings the policy reads; problems with these close it (the hub reports them, and the rest).
POLICY_SETTINGS = (
    "APPLIANCE_INSTANCE",
    "DOCKER_NETWORK",
    "SPAWNER_MODE",
    "SINGLEUSER_IMAGE",
    "ALLOWED_IMAGES",
    "PROFILES_FILE",
    "VOLUME_DRIVER",
    "VOLUME_DRIVER_OPTIONS",
    "SWARM_HOMES",
    "HOME_FORMAT",
    "SYSTEM_MIN_UID",
    "HOST_PASSWD_FILE",
    "HOST_GROUP_FILE",
    "BACKUP_REPOSITORY",
    "USER_STORAGE_DIR",
    "USER_DISK_QUOTA",
)


def policy_settings(environ: Mapping[str, str]) -> Settings:
    return load(environ, only=POLICY_SETTINGS)


def instance_from(settings: Settings, own_image: str) -> Instance:
    in_use = profiles.in_use(settings)
    driver = settings["VOLUME_DRIVER"]
    options = volume_driver_options(settings)
    system = settings["SPAWNER_MODE"] == "system"
    return Instance(
        name=settings["APPLIANCE_INSTANCE"],
        own_image=own_image,
        user_images=frozenset(normalised_image(image) for image in profiles.images_in_use(settings)),
        network=settings["DOCKER_NETWORK"],
        gpus=any(profile.gpus is not None for profile in in_use),
        volume_driver=(driver, tuple(sorted(options.items()))) if driver else None,
        swarm_homes=settings["SWARM_HOMES"] or "",
        home_format=settings["HOME_FORMAT"] if system else "",
        min_uid=settings["SYSTEM_MIN_UID"],
        account_files=(settings["HOST_PASSWD_FILE"], settings["HOST_GROUP_FILE"]) if system else (),
        shared_volumes=shared_volumes(in_use),
        backup_repository=settings["BACKUP_REPOSITORY"].host_path if settings["BACKUP_REPOSITORY"] else "",
        user_storage_dir=homes.folder if (homes := quota_homes(settings)) else "",
    )


def shared_volumes(in_use: tuple[profiles.Profile, ...]) -> dict[str, bool]:
    """Each profile's shared volume, and whether it is read-only: only when every profile naming it says so."""
    found: dict[str, bool] = {}
    for volume in (volume for profile in in_use for volume in profile.volumes):
        found[volume.name] = found.get(volume.name, True) and volume.read_only
    return found


class FollowingProfiles:
    """The instance, read again when the profiles file changes (the hub reads it at each start). Settings with
    problems close the policy (the hub names them, and still needs to turn its restart policy off)."""

    def __init__(self, environ: Mapping[str, str], own_image: str):
        self.environ = environ
        self.own_image = own_image
        self.path = environ.get("PROFILES_FILE") or DEFAULT_PROFILES_FILE
        self.seen = self.stamp()
        self.current = self.read()

    def read(self) -> Instance:
        try:
            return instance_from(policy_settings(self.environ), self.own_image)
        except SettingsError as error:
            log.error("%s\nUntil then the broker lets only reads through.", error)
            name = self.environ.get("APPLIANCE_INSTANCE", "")
            return Instance(name, self.own_image, frozenset(), "", closed=True)

    def stamp(self) -> float | None:
        try:
            return os.stat(self.path).st_mtime
        except OSError:
            return None

    def __call__(self) -> Instance:
        if (stamp := self.stamp()) != self.seen:
            self.seen = stamp
            self.current = self.read()
        return self.current


def own_image(engine_socket: str, seconds: float = 10) -> str:
    """The id of the image this container runs, asked of the engine by this container's hostname (its id)."""
    return unix_http.get_json(engine_socket, f"/containers/{socket.gethostname()}/json", seconds)["Image"]


def refreshing(environ: Mapping[str, str], engine_socket: str) -> Callable[[], Instance]:
    return FollowingProfiles(environ, own_image(engine_socket))
