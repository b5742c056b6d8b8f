"""Docker mode: one container per server on this host, its home in a named volume that outlives it."""

from typing import Any

from traitlets.config import Config

from appliance.declarations import Problem, Settings, SpawnerMode, present
from appliance.kinds import byte_count
from appliance.layout import HOME_DIR, HOME_VOLUME_SUFFIX, NOTEBOOK_DIR


def configure(settings: Settings, c: Config) -> None:
    c.JupyterHub.spawner_class = "appliance.spawners.ApplianceDockerSpawner"
    configure_user_volumes(settings, c)
    c.DockerSpawner.extra_host_config = hardened_host_config(settings)
    c.ApplianceDockerSpawner.deleted_user_data = settings["DELETED_USER_DATA"]
    configure_user_storage(settings, c)


def configure_user_storage(settings: Settings, c: Config) -> None:
    """With USER_STORAGE_DIR, each user volume binds a btrfs subvolume there, with the quota
    (appliance.storage.quotas)."""
    if settings["USER_STORAGE_DIR"]:
        c.ApplianceDockerSpawner.user_storage_dir = settings["USER_STORAGE_DIR"]
        c.ApplianceDockerSpawner.disk_quota = byte_count(present(settings["USER_DISK_QUOTA"]))


def configure_user_volumes(settings: Settings, c: Config) -> None:
    """Each server's home lives in a named volume that outlives its containers, one per named server; JupyterLab
    opens in its work folder. An install of a release before 0.3 keeps its volumes (they hold ~/work) at ~/work."""
    c.DockerSpawner.notebook_dir = NOTEBOOK_DIR
    c.DockerSpawner.volumes = user_volumes(settings)


def user_volumes(settings: Settings) -> dict[str, str]:
    """Volume name templates and where each is mounted; the home before anything mounted inside it."""
    volume = user_volume_template(settings)
    if settings["USER_VOLUME_HOLDS"] == "work":
        return {volume + HOME_VOLUME_SUFFIX: HOME_DIR, volume: NOTEBOOK_DIR}
    return {volume: HOME_DIR}


def user_volume_template(settings: Settings) -> str:
    """USER_VOLUME with the instance filled in, for dockerspawner to fill in the user and server."""
    template = present(settings["USER_VOLUME"]).replace("{instance}", settings["APPLIANCE_INSTANCE"])
    if settings["NAMED_SERVERS"] and "{servername}" not in template:
        return template + "{server_suffix}"
    return template


def deleted_user_data_problems(values: Settings, mode: str) -> list[Problem]:
    """Users' volumes are archived or removed only where the hub sees them: in docker mode."""
    if values["DELETED_USER_DATA"] in ("keep", None):
        return []
    return [
        Problem(
            "DELETED_USER_DATA",
            repr(values["DELETED_USER_DATA"]),
            f"works in docker mode only: in {mode} mode users' files are not volumes on the hub's engine",
            "unset it (keep), or use SPAWNER_MODE=docker",
        )
    ]


def hardened_host_config(settings: Settings) -> dict:
    """No privileges to gain, no capabilities, bounded processes; with READ_ONLY_ROOTFS, only the volumes (the home
    among them) and an in-memory /tmp stay writable."""
    host_config: dict[str, Any] = {
        # The spawner removes containers when they stop (remove=True); without Docker's auto-remove,
        # a container that dies while starting keeps its logs long enough to show them to the user.
        "auto_remove": False,
        "pids_limit": settings["PIDS_LIMIT"],
        "security_opt": ["no-new-privileges"],
        "cap_drop": ["ALL"],
        "privileged": False,
    }
    if settings["READ_ONLY_ROOTFS"]:
        host_config["read_only"] = True
        host_config["tmpfs"] = {"/tmp": "rw,nosuid,nodev,mode=1777"}
    return host_config


# Nothing of its own for the doctor: the engine, network and images checks cover it.
MODE = SpawnerMode("docker", "Docker", configure, diagnose=None)
