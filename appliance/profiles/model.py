"""A profile: a choice at spawn, and who may make it. Plain values, no YAML (appliance.profiles.file reads the
file; appliance.profiles.policy decides who gets which)."""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Fields that only Swarm mode reads.
SWARM_ONLY_FIELDS = ("mem_reservation", "cpu_reservation", "placement")


@dataclass(frozen=True)
class SharedVolume:
    """A Docker volume shared by every server of a profile: course material (read-only) or a scratch."""

    name: str
    mount_path: str
    read_only: bool = True


@dataclass(frozen=True)
class Profile:
    """A choice at spawn. Unset values (None) are the global settings: SINGLEUSER_IMAGE, MEM_LIMIT, …"""

    name: str
    display_name: str = ""
    description: str = ""
    default: bool = False
    image: str | None = None
    mem_limit: str | None = None
    disk_quota: str | None = None
    cpu_limit: float | None = None
    mem_reservation: str | None = None
    cpu_reservation: float | None = None
    gpus: str | int | tuple[str, ...] | None = None
    volumes: tuple[SharedVolume, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict, hash=False)
    groups: tuple[str, ...] = ()
    placement: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return self.display_name or self.name

    def open_to(self, groups: Iterable[str]) -> bool:
        """Whether a member of these JupyterHub groups may use it; a profile without groups is everyone's."""
        return not self.groups or bool(set(self.groups) & set(groups))

    def summary(self) -> str:
        """One line for `appliance check` and the logs."""
        parts = [f"image {self.image or '(SINGLEUSER_IMAGE)'}"]
        parts += [f"memory {self.mem_limit}"] if self.mem_limit else []
        parts += [f"{self.cpu_limit:g} CPU"] if self.cpu_limit else []
        parts += [f"disk quota {self.disk_quota}"] if self.disk_quota else []
        parts += [f"GPUs {gpus_shown(self.gpus)}"] if self.gpus is not None else []
        parts += [f"{v.name} at {v.mount_path} ({'read-only' if v.read_only else 'writable'})" for v in self.volumes]
        parts += [f"for {', '.join(self.groups)}" if self.groups else "for everyone"]
        return f"{self.name}{' (default)' if self.default else ''}: " + "; ".join(parts)


def gpus_shown(gpus: str | int | tuple[str, ...] | None) -> str:
    if isinstance(gpus, tuple):
        return "devices " + ", ".join(gpus)
    return str(gpus)


@dataclass(frozen=True)
class ProfilesFile:
    """The parsed file: what PROFILES_FILE holds once loaded."""

    path: str
    profiles: tuple[Profile, ...]

    def __str__(self) -> str:
        return f"{self.path} ({len(self.profiles)} profiles: {', '.join(p.name for p in self.profiles)})"


def from_images(default_image: str, images: Iterable[str]) -> tuple[Profile, ...]:
    """ALLOWED_IMAGES as profiles: one per image, the default image first and default."""
    ordered = list(dict.fromkeys([default_image, *images]))
    profiles: list[Profile] = []
    used: set[str] = set()
    for position, reference in enumerate(ordered):
        name = image_slug(reference, used)
        used.add(name)
        profiles.append(Profile(name, display_name=reference, image=reference, default=position == 0))
    return tuple(profiles)


def image_slug(reference: str, used: set[str]) -> str:
    last_component = reference.split("@")[0].rsplit("/", 1)[-1]
    base = re.sub(r"[^a-z0-9]+", "-", last_component.lower()).strip("-")[:55].strip("-") or "image"
    name, number = base, 2
    while name in used:
        name, number = f"{base}-{number}", number + 1
    return name


ONLY_PROFILE = Profile("default", display_name="Default", default=True)
