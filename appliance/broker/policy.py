"""What the Docker broker lets through: deny by default, request bodies checked. Pure functions, no I/O.

The hub reaches Docker only through the broker (appliance.broker.server). Each request is checked here against
what the appliance's own work needs: reads of the engine, the instance's own objects, and creates of hardened,
labelled containers, services and volumes of allowed images. A compromised hub can therefore start nothing
that is root on the host: no privileged container, no host bind outside system mode's homes, no host
namespaces, no capability but two helpers' own, no exec, build, archive or plugin endpoint.

`targets(request)` names the existing objects whose labels a decision needs; the server looks them up and
passes them to `decide(request, instance, found)`.
"""

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from appliance.helpers import (
    ARCHIVE_ENTRYPOINT,
    ARCHIVE_TARGET,
    COPY_CAPABILITIES,
    COPY_ENTRYPOINT,
    COPY_SOURCE,
    COPY_TARGET,
    HOST_VIEW_ENTRYPOINT,
    NEW_HOME,
    RESTIC_BACKUP_CAPABILITIES,
    RESTIC_ENTRYPOINT,
    RESTIC_REPOSITORY,
    RESTIC_RESTORE_CAPABILITIES,
    RESTIC_VOLUMES,
    RULES_ENTRYPOINT,
    STORAGE_CAPABILITIES,
    STORAGE_ENTRYPOINT,
    STORAGE_MOUNT,
    home_entrypoint,
)
from appliance.labels import LABEL_HELPER_FOR, LABEL_HUB_OF, LABEL_INSTANCE, LABEL_SHARED, LABEL_USER

UNPRIVILEGED_USER = "65534:65534"
# The start of every refusal's message: how a client tells the broker's 403 from the engine's answers.
REFUSED_BY = "refused by the appliance's Docker broker:"
# A container name no one uses: the doctor's broker check reads "its" archive, which an engine answers with 404.
BROKER_PROBE_NAME = "jupyterhub-appliance-broker-probe-0"
VERSION_PREFIX = re.compile(r"^/v\d+(\.\d+)?(?=/)")
ALLOWED_MODES = {"IpcMode": ("", "private", "shareable", "none"), "CgroupnsMode": ("", "private")}
EMPTY_MODES = ("PidMode", "UsernsMode", "UTSMode", "CgroupParent", "VolumeDriver")
EMPTY_LISTS = ("Devices", "VolumesFrom", "Sysctls", "DeviceCgroupRules", "Links")
RUNTIMES = ("", "runc")


@dataclass(frozen=True)
class Instance:
    """What the policy knows of the appliance it serves, from the same settings as the hub."""

    name: str  # APPLIANCE_INSTANCE
    own_image: str  # the id of the appliance's image, that its helpers run
    user_images: frozenset[str]  # the images the settings and profiles allow, normalised
    network: str  # DOCKER_NETWORK
    gpus: bool = False  # a profile asks for GPUs
    volume_driver: tuple[str, tuple[tuple[str, str], ...]] | None = None  # VOLUME_DRIVER and its options
    swarm_homes: str = ""  # SWARM_HOMES
    home_format: str = ""  # system mode's HOME_FORMAT; empty in the other modes
    min_uid: int = 1000  # SYSTEM_MIN_UID
    account_files: tuple[str, ...] = ()  # system mode's host passwd and group files
    closed: bool = False  # the settings have problems: only reads, and the hub turning its restart policy off
    # The profiles' shared volumes (an admin may have made them, unlabelled): each name, and whether it is read-only.
    shared_volumes: Mapping[str, bool] = field(default_factory=dict)
    backup_repository: str = ""  # BACKUP_REPOSITORY when it is a host folder, which only the restic helper binds
    # The folder of homes with quotas (USER_STORAGE_DIR, or SWARM_HOMES with USER_DISK_QUOTA): user volumes bind its
    # folders; only the storage helper binds it.
    user_storage_dir: str = ""


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # as sent, with or without Docker's /v1.xx prefix
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None  # the parsed JSON body, if any


@dataclass(frozen=True)
class Target:
    """An existing object whose labels a decision needs: a container, service or volume, by id or name."""

    kind: str
    name: str


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    rule: str  # what allowed it, or why it was refused
    missing: Target | None = None  # refused because this object does not exist: the caller answers 404

    def __bool__(self) -> bool:
        return self.allowed


class Refused(Exception):
    """Raised inside the checks; `decide` turns it into a refusing verdict."""


class Missing(Refused):
    """The request names an object that does not exist; Docker would answer 404, and so does the broker."""

    def __init__(self, target: Target, instance: str):
        super().__init__(f"no {target.kind} {target.name!r} of {instance} exists")
        self.target = target


# What a lookup found: each target's labels, or None when it does not exist.
Found = Mapping[Target, dict[str, str] | None]


def unversioned(path: str) -> str:
    return VERSION_PREFIX.sub("", path, count=1)


def normalised_image(reference: str) -> str:
    """An image reference as Docker reads it: docker.io/library/ dropped, :latest added where no tag or digest."""
    name = reference.removeprefix("docker.io/").removeprefix("library/")
    last = name.rsplit("/", 1)[-1]
    if "@" not in name and ":" not in last and not name.startswith("sha256:"):
        name += ":latest"
    return name


# -- the routes ------------------------------------------------------------------------------------------------

READS = [
    r"/_ping",
    r"/version",
    r"/info",
    r"/containers/json",
    r"/volumes",
    r"/volumes/[^/]+",
    r"/networks",
    r"/networks/[^/]+",
    r"/images/json",
    r"/images/.+/json",
    r"/distribution/.+/json",
    r"/nodes",
    r"/nodes/[^/]+",
]
CONTAINER_ACTIONS = {
    ("GET", "json"),
    ("GET", "logs"),
    ("POST", "start"),
    ("POST", "stop"),
    ("POST", "kill"),
    ("POST", "wait"),
    ("POST", "update"),
    ("DELETE", ""),
}
SERVICE_ACTIONS = {("GET", ""), ("GET", "logs"), ("POST", "update"), ("DELETE", "")}


def route(request: Request) -> tuple[str, str, str]:
    """(kind of operation, object id or name, action) for the known paths; ("", "", "") for the rest."""
    path = unversioned(request.path).rstrip("/") or "/"
    method = request.method.upper()
    if method in ("GET", "HEAD") and any(re.fullmatch(pattern, path) for pattern in READS):
        return "read", "", ""
    patterns = [
        (r"/containers/create", "POST", "container-create"),
        (r"/volumes/create", "POST", "volume-create"),
        (r"/services/create", "POST", "service-create"),
        (r"/images/create", "POST", "pull"),
        (r"/services", "GET", "service-list"),
        (r"/tasks", "GET", "task-list"),
    ]
    for pattern, wanted, kind in patterns:
        if method == wanted and path == pattern:
            return kind, "", ""
    if match := re.fullmatch(r"/containers/([^/]+)(?:/([a-z]+))?", path):
        return "container", match[1], match[2] or ""
    if match := re.fullmatch(r"/services/([^/]+)(?:/([a-z]+))?", path):
        return "service", match[1], match[2] or ""
    if match := re.fullmatch(r"/volumes/([^/]+)", path):
        return "volume", match[1], ""
    if match := re.fullmatch(r"/networks/([^/]+)/(connect|disconnect)", path):
        return "network-attach", match[1], match[2]
    return "", "", ""


def targets(request: Request) -> list[Target]:
    """The existing objects whose labels `decide` needs for this request."""
    kind, name, _ = route(request)
    body = request.body if isinstance(request.body, dict) else {}
    if kind == "container":
        return [Target("container", name)]
    if kind in ("service", "volume"):
        return [Target(kind, name)]
    if kind == "network-attach":
        return [Target("container", str(body.get("Container", "")))]
    if kind == "container-create":
        host = body.get("HostConfig") or {}
        found = [Target("volume", source) for source in named_volumes(host)]
        if (mode := host.get("NetworkMode", "")).startswith("container:"):
            found.append(Target("container", mode.removeprefix("container:")))
        return found
    if kind == "service-create":
        mounts = spec_mounts(body)
        return [Target("volume", m.get("Source", "")) for m in mounts if m.get("Type", "volume") == "volume"]
    if kind == "task-list":
        return [Target("service", name) for name in query_filter(request, "service")]
    return []


def decide(request: Request, instance: Instance, found: Found) -> Verdict:
    """Whether the broker forwards this request, and the rule that says so."""
    kind, name, action = route(request)
    if instance.closed and kind != "read" and (kind, action) not in (("container", "json"), ("container", "update")):
        return Verdict(False, "the broker's settings have problems (see its log): until they are fixed, it lets "
                              "only reads through, and the hub turning its own restart policy off")  # fmt: skip
    check = CHECKS.get(kind)
    if check is None:
        return Verdict(
            False, f"{request.method.upper()} {unversioned(request.path)} is not an endpoint the appliance uses"
        )
    try:
        return Verdict(True, check(request, instance, found, name, action))
    except Missing as missing:
        return Verdict(False, str(missing), missing.target)
    except Refused as refusal:
        return Verdict(False, str(refusal))


# -- the checks, one per kind of operation ---------------------------------------------------------------------


def allow_read(request, instance, found, name, action) -> str:
    return "a read of the engine's state"


def allow_container_action(request, instance, found, name, action) -> str:
    if (request.method.upper(), action) not in CONTAINER_ACTIONS:
        raise Refused(f"{action or request.method.upper()} on a container is not an operation the appliance uses")
    labels = ours(found, Target("container", name), instance)
    if action == "update":
        check_update(request.body)
    return f"{action or request.method.lower()} of a container of {instance.name} ({describe(labels)})"


def check_update(body: Any) -> None:
    """The one update the hub makes: turning its own restart policy off when it cannot start."""
    if not isinstance(body, dict) or set(body) != {"RestartPolicy"} or body["RestartPolicy"].get("Name") != "no":
        raise Refused("a container update may only turn the restart policy off")


def allow_service_action(request, instance, found, name, action) -> str:
    if (request.method.upper(), action) not in SERVICE_ACTIONS:
        raise Refused(f"{action or request.method.upper()} on a service is not an operation the appliance uses")
    ours(found, Target("service", name), instance)
    if action == "update":
        check_service_spec(request.body, instance, found)
    return f"{action or request.method.lower()} of a service of {instance.name}"


def allow_volume_removal(request, instance, found, name, action) -> str:
    if request.method.upper() != "DELETE":
        raise Refused(f"{request.method.upper()} on a volume is not an operation the appliance uses")
    labels = ours(found, Target("volume", name), instance)
    if labels.get(LABEL_SHARED):
        raise Refused(f"the volume {name} is a profile's shared volume, which the appliance never removes")
    return f"removal of a volume of {instance.name}"


def allow_network_attach(request, instance, found, name, action) -> str:
    body = request.body if isinstance(request.body, dict) else {}
    ours(found, Target("container", str(body.get("Container", ""))), instance)
    return f"{action} of a container of {instance.name}"


def allow_pull(request, instance, found, name, action) -> str:
    image = request.query.get("fromImage", "")
    tag = request.query.get("tag", "")
    reference = f"{image}@{tag}" if tag.startswith("sha256:") else f"{image}:{tag}" if tag else image
    check_user_image(reference, instance)
    return f"a pull of {reference}, an image the settings allow"


def allow_service_list(request, instance, found, name, action) -> str:
    if f"{LABEL_INSTANCE}={instance.name}" not in query_filter(request, "label"):
        raise Refused(f"a list of services must be filtered by the label {LABEL_INSTANCE}={instance.name}")
    return f"a list of the services of {instance.name}"


def allow_task_list(request, instance, found, name, action) -> str:
    services = query_filter(request, "service")
    if not services:
        raise Refused("a list of tasks must be filtered by a service of the instance")
    for service in services:
        ours(found, Target("service", service), instance)
    return f"a list of the tasks of services of {instance.name}"


def allow_volume_create(request, instance, found, name, action) -> str:
    body = request.body if isinstance(request.body, dict) else {}
    check_instance_label(body.get("Labels"), instance, "volume")
    check_driver_options(body.get("Driver") or "local", body.get("DriverOpts") or {}, instance)
    return f"a labelled volume of {instance.name}"


def allow_container_create(request, instance, found, name, action) -> str:
    body = request.body if isinstance(request.body, dict) else {}
    labels = check_instance_label(body.get("Labels"), instance, "container")
    host = body.get("HostConfig") or {}
    check_hardening(host)
    check_namespaces(host)
    check_devices(host, instance)
    check_networks(body, host, instance, found)
    check_mounts(body, host, labels, instance, found)
    helper = check_image_and_capabilities(body, host, instance)
    return f"a hardened {helper or 'container'} of {instance.name} ({describe(labels)})"


def allow_service_create(request, instance, found, name, action) -> str:
    check_service_spec(request.body, instance, found)
    return f"a hardened service of {instance.name}"


CHECKS = {
    "read": allow_read,
    "container": allow_container_action,
    "service": allow_service_action,
    "volume": allow_volume_removal,
    "network-attach": allow_network_attach,
    "pull": allow_pull,
    "service-list": allow_service_list,
    "task-list": allow_task_list,
    "volume-create": allow_volume_create,
    "container-create": allow_container_create,
    "service-create": allow_service_create,
}


# -- containers --------------------------------------------------------------------------------------------------


def check_hardening(host: dict) -> None:
    """No privilege, every capability dropped, no privilege to gain, no confinement off, a process limit."""
    if host.get("Privileged"):
        raise Refused("Privileged is not allowed")
    if "ALL" not in [c.upper() for c in host.get("CapDrop") or ()]:
        raise Refused("CapDrop must drop ALL")
    options = host.get("SecurityOpt") or []
    if not any(o in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true") for o in options):
        raise Refused("SecurityOpt must hold no-new-privileges")
    if loosened := [o for o in options if "unconfined" in o or o.replace(":", "=") == "label=disable"]:
        raise Refused(f"SecurityOpt {', '.join(loosened)} is not allowed")
    if not (host.get("PidsLimit") or 0) > 0:
        raise Refused("PidsLimit must be set")
    if (host.get("Runtime") or "") not in RUNTIMES:
        raise Refused(f"the runtime {host['Runtime']} is not allowed")


def check_namespaces(host: dict) -> None:
    for key in EMPTY_MODES:
        if host.get(key):
            raise Refused(f"{key}={host[key]} is not allowed")
    for key, allowed in ALLOWED_MODES.items():
        if (host.get(key) or "") not in allowed:
            raise Refused(f"{key}={host[key]} is not allowed")


def check_devices(host: dict, instance: Instance) -> None:
    for key in EMPTY_LISTS:
        if host.get(key):
            raise Refused(f"{key} is not allowed")
    if host.get("DeviceRequests") and not instance.gpus:
        raise Refused("DeviceRequests (GPUs) are allowed only where a profile asks for GPUs")


def check_networks(body: dict, host: dict, instance: Instance, found: Found) -> None:
    """The instance's network, none, or (for the appliance's own helpers) the host's or a server's namespace."""
    mode = host.get("NetworkMode") or ""
    if mode.startswith("container:"):
        joined = ours(found, Target("container", mode.removeprefix("container:")), instance)
        if joined.get(LABEL_INSTANCE) != instance.name:
            raise Refused("only the namespace of a server or helper of the instance may be joined, not the hub's")
    elif mode not in ("", "default", "none", "host", instance.network):
        raise Refused(f"NetworkMode {mode} is not allowed: only {instance.network} or none")
    endpoints = ((body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}).keys()
    if others := [name for name in endpoints if name != instance.network]:
        raise Refused(f"the network {others[0]} is not allowed: only {instance.network}")


def check_image_and_capabilities(body: dict, host: dict, instance: Instance) -> str:
    """A user image with no capability, or the appliance's own image as one of its helpers; "" or the helper."""
    image = body.get("Image") or ""
    added = sorted(c.upper().removeprefix("CAP_") for c in host.get("CapAdd") or ())
    mode = host.get("NetworkMode") or ""
    if image != instance.own_image:
        check_user_image(image, instance)
        if added:
            raise Refused(f"CapAdd {', '.join(added)} is not allowed")
        if mode == "host" or mode.startswith("container:"):
            raise Refused(f"NetworkMode {mode} is only for the appliance's own helpers")
        return ""
    if body.get("Entrypoint") == RESTIC_ENTRYPOINT:
        return check_restic_helper(host, added, mode, instance)
    if body.get("Entrypoint") == STORAGE_ENTRYPOINT:
        return check_storage_helper(host, added, mode, instance)
    if body.get("Entrypoint") == COPY_ENTRYPOINT:
        return check_copy_helper(host, added, mode)
    return check_helper(body, host, added, mode)


def check_copy_helper(host: dict, added: list[str], mode: str) -> str:
    """A home moving into USER_STORAGE_DIR: one volume read-only, one written with its owners and modes (CHOWN,
    DAC_OVERRIDE, FOWNER), no host folder, no network."""
    if added != sorted(COPY_CAPABILITIES) or mode != "none":
        raise Refused("the copy helper runs with CHOWN, DAC_OVERRIDE and FOWNER only, and no network")
    mounts = sorted(
        (target, read_only, source.startswith("/")) for source, target, read_only in all_mounts_or_none(host)
    )
    if mounts != [(COPY_SOURCE, True, False), (COPY_TARGET, False, False)]:
        raise Refused(
            f"the copy helper reads one volume at {COPY_SOURCE} and writes one at {COPY_TARGET}, nothing else"
        )
    return "copy helper"


def check_storage_helper(host: dict, added: list[str], mode: str, instance: Instance) -> str:
    """btrfs's subvolumes and quotas in the homes' folder: SYS_ADMIN, no network, that folder its only mount."""
    if not instance.user_storage_dir:
        raise Refused("the storage helper needs USER_STORAGE_DIR, or SWARM_HOMES with USER_DISK_QUOTA")
    if added != sorted(STORAGE_CAPABILITIES) or mode != "none":
        raise Refused("the storage helper runs with SYS_ADMIN only, and no network")
    if all_mounts_or_none(host) != [(instance.user_storage_dir, STORAGE_MOUNT, False)]:
        raise Refused(f"the storage helper mounts the homes' folder at {STORAGE_MOUNT}, and nothing else")
    return "storage helper"


def check_restic_helper(host: dict, added: list[str], mode: str, instance: Instance) -> str:
    """restic: with no network (a repository URL: the instance's network); backing up reads every file
    (DAC_READ_SEARCH) and writes only the repository; restoring writes one volume with its owners and modes
    (CHOWN, DAC_OVERRIDE, FOWNER) and reads the repository only; listing and checking need no capability."""
    if mode != "none" and (instance.backup_repository or mode != instance.network):
        raise Refused("the restic helper has no network, but the instance's with a repository URL")
    writable = [target for _, target, read_only in all_mounts_or_none(host) if not read_only]
    if added == sorted(RESTIC_RESTORE_CAPABILITIES):
        if len(writable) != 1 or not writable[0].startswith(f"{RESTIC_VOLUMES}/"):
            raise Refused("the restic helper restores into one volume, and writes nothing else")
        return "restic restore helper"
    if added not in ([], sorted(RESTIC_BACKUP_CAPABILITIES)):
        raise Refused(f"CapAdd {', '.join(added)} is not allowed for the restic helper")
    if writable not in ([], [RESTIC_REPOSITORY]):
        raise Refused("the restic helper writes only the repository when it backs up")
    return "restic helper"


def check_helper(body: dict, host: dict, added: list[str], mode: str) -> str:
    """The appliance's own image: no capability but the rules helper's NET_ADMIN, the home helper's CHOWN and the
    archive helper's DAC_READ_SEARCH, and the host's network namespace only to read, as nobody."""
    entrypoint = body.get("Entrypoint")
    if added == ["DAC_READ_SEARCH"]:
        if entrypoint != ARCHIVE_ENTRYPOINT or mode != "none" or not writes_only_archives(host):
            raise Refused("DAC_READ_SEARCH is only for the archive helper, with no network, writing only the archives")
        return "archive helper"
    if added == ["NET_ADMIN"]:
        if entrypoint != RULES_ENTRYPOINT or not (mode == "none" or mode.startswith("container:")):
            raise Refused("NET_ADMIN is only for the network rules helper, in a server's namespace")
        return "network rules helper"
    if added == ["CHOWN"]:
        if not is_home_entrypoint(entrypoint) or mode != "none":
            raise Refused("CHOWN is only for the home helper, with no network")
        return "home helper"
    if added:
        raise Refused(f"CapAdd {', '.join(added)} is not allowed")
    if mode == "host" and (entrypoint != HOST_VIEW_ENTRYPOINT or body.get("User") != UNPRIVILEGED_USER):
        raise Refused("NetworkMode host is only for the host view helper, as nobody")
    if mode.startswith("container:") and body.get("User") != UNPRIVILEGED_USER:
        raise Refused("a server's network namespace is only for a helper running as nobody")
    return "helper"


def writes_only_archives(host: dict) -> bool:
    """Every mount read-only but one, at the archive volume's place."""
    writable = [target for _, target, read_only in all_mounts_or_none(host) if not read_only]
    return writable == [ARCHIVE_TARGET]


def is_home_entrypoint(entrypoint: Any) -> bool:
    ids = entrypoint[2].split(" chown ", 1)[-1].split(" ", 1)[0].split(":") if isinstance(entrypoint, list) else []
    return len(ids) == 2 and all(i.isdigit() for i in ids) and entrypoint == home_entrypoint(int(ids[0]), int(ids[1]))


def check_user_image(reference: str, instance: Instance) -> None:
    if normalised_image(reference) not in instance.user_images:
        allowed = ", ".join(sorted(instance.user_images))
        raise Refused(f"the image {reference} is not one the settings and profiles allow ({allowed})")


def check_mounts(body: dict, host: dict, labels: dict, instance: Instance, found: Found) -> None:
    """Named volumes of the instance (a user's server: only that user's, or shared ones); host paths only in
    system mode: the user's home under HOME_FORMAT and the account files, read-only."""
    whose = labels.get(LABEL_USER) or labels.get(LABEL_HELPER_FOR) or ""
    for source, target, read_only in all_mounts(host):
        if source.startswith("/"):
            check_host_path(source, target, read_only, whose, body, instance)
        elif source in instance.shared_volumes:
            check_shared_volume(source, read_only, instance, found)
        elif source:
            check_volume(source, labels, instance, found)
    for mount in host.get("Mounts") or ():
        options = (mount.get("VolumeOptions") or {}).get("DriverConfig") or {}
        if options:
            check_driver_options(options.get("Name") or "local", options.get("Options") or {}, instance)


def all_mounts(host: dict) -> list[tuple[str, str, bool]]:
    """(source, target, read-only) of each bind and mount that is not a tmpfs."""
    found = []
    for bind in host.get("Binds") or ():
        source, target, *mode = bind.split(":")
        found.append((source, target, "ro" in (mode[0].split(",") if mode else ())))
    for mount in host.get("Mounts") or ():
        if mount.get("Type") not in ("tmpfs",):
            if mount.get("Type") not in ("bind", "volume"):
                raise Refused(f"a mount of type {mount.get('Type')} is not allowed")
            source = mount.get("Source") or ""
            if mount.get("Type") == "bind" and not source.startswith("/"):
                raise Refused(f"a bind mount of {source!r} is not allowed")
            found.append((source, mount.get("Target", ""), bool(mount.get("ReadOnly"))))
    return found


def named_volumes(host: dict) -> list[str]:
    return [source for source, _, _ in all_mounts_or_none(host) if source and not source.startswith("/")]


def all_mounts_or_none(host: dict) -> list[tuple[str, str, bool]]:
    try:
        return all_mounts(host)
    except Refused:
        return []


def check_volume(name: str, labels: dict, instance: Instance, found: Found) -> None:
    volume = ours(found, Target("volume", name), instance)
    owner = labels.get(LABEL_USER)
    if owner and not volume.get(LABEL_SHARED) and volume.get(LABEL_USER) != owner:
        raise Refused(f"the volume {name} is not {owner}'s")


def check_shared_volume(name: str, read_only: bool, instance: Instance, found: Found) -> None:
    """A volume a profile names: unlabelled (an admin made it) or this instance's; read-only where the profile says."""
    owner = (found.get(Target("volume", name)) or {}).get(LABEL_INSTANCE)
    if owner not in (None, instance.name):
        raise Refused(f"the volume {name} belongs to the appliance {owner}, not {instance.name}'s")
    if instance.shared_volumes[name] and not read_only:
        raise Refused(f"the profiles mount the volume {name} read-only")


def check_host_path(source: str, target: str, read_only: bool, whose: str, body: dict, instance: Instance) -> None:
    if instance.user_storage_dir and source == instance.user_storage_dir:
        if body.get("Image") != instance.own_image or body.get("Entrypoint") != STORAGE_ENTRYPOINT:
            raise Refused(f"the homes' folder {source} is only for the storage helper")
        return
    if instance.backup_repository and source == instance.backup_repository:
        if body.get("Image") != instance.own_image or body.get("Entrypoint") != RESTIC_ENTRYPOINT:
            raise Refused(f"the backup repository {source} is only for the restic helper")
        if target != RESTIC_REPOSITORY:
            raise Refused(f"the restic helper binds the backup repository at {RESTIC_REPOSITORY} only")
        return
    if not instance.home_format:
        raise Refused(f"a bind of the host path {source} is not allowed")
    if source in instance.account_files:
        if not read_only:
            raise Refused(f"the account file {source} may only be mounted read-only")
        return
    home = user_home(instance, whose)
    if source != home:
        raise Refused(f"a bind of the host path {source} is not allowed: only {whose}'s home {home or '(none)'}")
    if body.get("Image") != instance.own_image:
        check_account_user(body.get("User") or "", instance)
    elif target != NEW_HOME:
        raise Refused(f"the home helper binds a home at {NEW_HOME} only")


def user_home(instance: Instance, username: str) -> str:
    """HOME_FORMAT for this user, if it is a plain path (no traversal, no slash in the name)."""
    if not username or "/" in username or username in (".", ".."):
        return ""
    home = instance.home_format.format(username=username)
    return home if os.path.normpath(home) == home else ""


def check_account_user(user: str, instance: Instance) -> None:
    uid = user.split(":", 1)[0]
    if not uid.isdigit() or int(uid) < max(instance.min_uid, 1):
        raise Refused(f"a server with a host home runs as an account at or above uid {instance.min_uid}, not {user!r}")


# -- volumes and services --------------------------------------------------------------------------------------


def check_driver_options(driver: str, options: Mapping[str, str], instance: Instance) -> None:
    """No options, the settings' VOLUME_DRIVER with its options, or a bind of a folder in SWARM_HOMES or
    USER_STORAGE_DIR."""
    if not options:
        return
    if instance.volume_driver and (driver, tuple(sorted(options.items()))) == instance.volume_driver:
        return
    for homes in (instance.swarm_homes, instance.user_storage_dir):
        if homes and driver == "local" and binds_a_folder_in(options, homes):
            return
    raise Refused(
        f"the volume options {dict(options)} are not allowed: only VOLUME_DRIVER's, or folders of SWARM_HOMES or "
        "USER_STORAGE_DIR"
    )


def binds_a_folder_in(options: Mapping[str, str], homes: str) -> bool:
    """A local volume that binds one folder directly in `homes`, as the spawners make them."""
    device = options.get("device", "")
    in_homes = os.path.dirname(device) == homes.rstrip("/") and os.path.normpath(device) == device
    return in_homes and options.get("type") == "none" and options.get("o") == "bind" and len(options) == 3


def check_service_spec(body: Any, instance: Instance, found: Found) -> None:
    spec = body if isinstance(body, dict) else {}
    check_instance_label(spec.get("Labels"), instance, "service")
    template = spec.get("TaskTemplate") or {}
    runs_a_container = template.get("Runtime", "") in ("", "container")
    if not runs_a_container or template.get("PluginSpec") or template.get("NetworkAttachmentSpec"):
        raise Refused("a service runs a container, not a plugin")
    container = template.get("ContainerSpec") or {}
    check_user_image(container.get("Image", ""), instance)
    if container.get("CapabilityAdd"):
        raise Refused(f"CapabilityAdd {', '.join(container['CapabilityAdd'])} is not allowed")
    privileges = container.get("Privileges") or {}
    if (privileges.get("SELinuxContext") or {}).get("Disable") or privileges.get("Seccomp", {}).get("Mode") == (
        "unconfined"
    ):
        raise Refused("a service's confinement may not be turned off")
    if (privileges.get("AppArmor") or {}).get("Mode") == "disabled":
        raise Refused("a service's AppArmor profile may not be turned off")
    for key in ("Sysctls", "Devices"):
        if container.get(key):
            raise Refused(f"{key} is not allowed in a service")
    for mount in spec_mounts(spec):
        check_service_mount(mount, instance, found)


def spec_mounts(spec: Any) -> list[dict]:
    template = spec.get("TaskTemplate") or {} if isinstance(spec, dict) else {}
    return list((template.get("ContainerSpec") or {}).get("Mounts") or ())


def check_service_mount(mount: dict, instance: Instance, found: Found) -> None:
    if mount.get("Type", "volume") == "tmpfs":
        return
    if mount.get("Type", "volume") != "volume":
        raise Refused(f"a service mount of type {mount.get('Type')} is not allowed")
    source = mount.get("Source", "")
    options = mount.get("VolumeOptions") or {}
    check_instance_label(options.get("Labels"), instance, f"volume {source}")
    if source in instance.shared_volumes:
        check_shared_volume(source, bool(mount.get("ReadOnly")), instance, found)
    elif found.get(Target("volume", source)) is not None:
        ours(found, Target("volume", source), instance)
    driver = options.get("DriverConfig") or {}
    check_driver_options(driver.get("Name") or "local", driver.get("Options") or {}, instance)


# -- labels ------------------------------------------------------------------------------------------------------


def ours(found: Found, target: Target, instance: Instance) -> dict[str, str]:
    """The labels of an existing object of this instance; refused for another's, or one that does not exist."""
    labels = found.get(target)
    if labels is None:
        raise Missing(target, instance.name)
    if instance.name not in (labels.get(LABEL_INSTANCE), labels.get(LABEL_HUB_OF)):
        other = labels.get(LABEL_INSTANCE) or labels.get(LABEL_HUB_OF)
        owner = f"belongs to the appliance {other}" if other else "is not the appliance's"
        raise Refused(f"the {target.kind} {target.name} {owner}, not {instance.name}'s")
    return labels


def check_instance_label(labels: Any, instance: Instance, what: str) -> dict[str, str]:
    labels = labels if isinstance(labels, dict) else {}
    if labels.get(LABEL_INSTANCE) != instance.name:
        raise Refused(f"a new {what} must carry the label {LABEL_INSTANCE}={instance.name}")
    return labels


def describe(labels: dict[str, str]) -> str:
    if user := labels.get(LABEL_USER):
        return f"user {user}"
    if whose := labels.get(LABEL_HELPER_FOR):
        return f"helper for {whose}"
    if labels.get(LABEL_HUB_OF):
        return "the hub"
    return "the instance's"


def query_filter(request: Request, key: str) -> list[str]:
    """The values of one key of Docker's `filters` query parameter (JSON: a list, or a map of value to true)."""
    try:
        filters = json.loads(request.query.get("filters") or "{}")
    except ValueError:
        return []
    values = filters.get(key, []) if isinstance(filters, dict) else []
    return list(values) if isinstance(values, (list, dict)) else []
