"""The profile a server starts with: chosen on the spawn page or through the REST API, checked here.

The check runs in the spawner, at the start of every spawn, against the groups of the server's owner:
whoever asks (the user, an admin, a service with the scope to start servers), a profile outside the
owner's groups, a made-up one, or an image in none of the owner's profiles is refused before any
container exists. A spawner is reused for its server's next start, so each start begins again from
the configured values before the profile's own are applied.
"""

import html
from typing import cast

from sqlalchemy.orm import object_session
from traitlets import Any, List, default

from appliance.declarations import present
from appliance.kinds import byte_count
from appliance.profiles import Profile, ProfileRefused, SharedVolume, chosen, gpus_shown
from appliance.spawners.base import SpawnerMixinBase
from appliance.spawners.errors import SpawnRefused

# The values a profile may replace, as configured; restored before each start. The environment is not among
# them: hooks that run before start() add to it (the GitHub token), so only the last profile's own keys go.
PROFILE_TRAITS = ("image", "mem_limit", "cpu_limit", "mem_guarantee", "cpu_guarantee", "volumes", "disk_quota")
GPU_CAPABILITIES = [["gpu"]]


class ProfileChoice(SpawnerMixinBase):
    profiles = List(
        Any(),
        config=True,
        help="The profiles users choose from (appliance.profiles.Profile), each with an image.",
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.configured = {name: getattr(self, name) for name in PROFILE_TRAITS}
        self.configured_environment = dict(self.environment)
        self.profile: Profile | None = None

    # -- the spawn page -------------------------------------------------------------------------------
    @default("options_form")
    def _default_options_form(self):
        return profiles_form

    @default("options_from_form")
    def _default_options_from_form(self):
        return options_from_form

    def owner_groups(self) -> list[str]:
        return [group.name for group in self.user.groups]

    def open_profiles(self) -> list[Profile]:
        groups = self.owner_groups()
        return [profile for profile in self.offered() if profile.open_to(groups)]

    def offered(self) -> tuple[Profile, ...]:
        return tuple(cast(list[Profile], self.profiles))

    # -- the check, and the profile's values ----------------------------------------------------------
    def apply_profile(self) -> Profile:
        """Choose the server's profile from its user_options and set its values; SpawnRefused when not allowed."""
        try:
            profile = chosen(self.offered(), self.user_options or {}, self.owner_groups(), self.user.name)
        except ProfileRefused as refusal:
            self.forget_refused_options()
            raise SpawnRefused(refusal.status, str(refusal)) from None
        for name, value in self.configured.items():
            setattr(self, name, value)
        self.image = present(profile.image)  # profiles in use all name one (appliance.profiles.in_use)
        if profile.mem_limit:
            self.mem_limit = profile.mem_limit
        if profile.cpu_limit:
            self.cpu_limit = profile.cpu_limit
        if profile.disk_quota:
            self.disk_quota = byte_count(profile.disk_quota)
        if profile.mem_reservation:
            self.mem_guarantee = profile.mem_reservation
        if profile.cpu_reservation:
            self.cpu_guarantee = profile.cpu_reservation
        self.environment = {**self.environment_without_profile(), **profile.environment}
        self.volumes = {**self.configured["volumes"], **{v.name: volume_bind(v) for v in profile.volumes}}
        self.profile = profile
        self.log.info("Server %s starts with the profile %s", self._log_name, profile.summary())
        return profile

    def environment_without_profile(self) -> dict[str, str]:
        """The environment as it is now, less what the last applied profile added (configured values come back)."""
        environment = dict(self.environment)
        for name in self.profile.environment if self.profile else ():
            if name in self.configured_environment:
                environment[name] = self.configured_environment[name]
            else:
                environment.pop(name, None)
        return environment

    def forget_refused_options(self) -> None:
        """JupyterHub saves a start's options as the server's next default before the start is checked; a refused
        choice must not become that default, or each later start without options would be refused again."""
        orm_spawner = getattr(self, "orm_spawner", None)
        session = object_session(orm_spawner) if orm_spawner is not None else None
        if orm_spawner is not None and session is not None:
            orm_spawner.user_options = {}
            session.commit()

    async def check_allowed(self, image):
        """dockerspawner's check of a user_options image: apply_profile has checked it against the profiles."""
        return present(self.profile).image

    @property
    def shared_volumes(self) -> dict[str, SharedVolume]:
        return {volume.name: volume for volume in (self.profile.volumes if self.profile else ())}


def volume_bind(volume: SharedVolume) -> dict[str, str]:
    return {"bind": volume.mount_path, "mode": "ro" if volume.read_only else "rw"}


def device_requests(gpus: str | int | tuple[str, ...] | None) -> list[dict]:
    """A profile's GPUs as Docker's DeviceRequests (docker run --gpus), in docker-py's keyword form."""
    if gpus is None:
        return []
    if isinstance(gpus, tuple):
        return [{"device_ids": list(gpus), "capabilities": GPU_CAPABILITIES}]
    return [{"count": -1 if gpus == "all" else gpus, "capabilities": GPU_CAPABILITIES}]


def options_from_form(formdata: dict[str, list[str]]) -> dict[str, str]:
    return {"profile": formdata["profile"][0]} if formdata.get("profile") else {}


def profiles_form(spawner: ProfileChoice) -> str:
    """The spawn page: the profiles open to the server's owner, one radio button each; none when there is no choice."""
    profiles = spawner.open_profiles()
    if len(profiles) < 2:
        return ""
    current = (spawner.user_options or {}).get("profile")
    selected = next((p.name for p in profiles if p.name == current), None)
    selected = selected or next((p.name for p in profiles if p.default), profiles[0].name)
    choices = "\n".join(profile_choice(profile, profile.name == selected, spawner) for profile in profiles)
    return f'<fieldset class="appliance-profiles">\n<legend>Choose a server</legend>\n{choices}\n</fieldset>'


def profile_choice(profile: Profile, checked: bool, spawner: ProfileChoice) -> str:
    e = html.escape
    element_id = f"profile-{profile.name}"
    description = f"<div>{e(profile.description)}</div>" if profile.description else ""
    return (
        f'<div class="form-check appliance-profile">\n'
        f'  <input class="form-check-input" type="radio" name="profile" id="{element_id}" value="{e(profile.name)}"'
        f"{' checked' if checked else ''}>\n"
        f'  <label class="form-check-label" for="{element_id}"><strong>{e(profile.title)}</strong>{description}'
        f'<div><small class="text-muted">{" &middot; ".join(map(e, sizes(profile, spawner)))}</small></div></label>\n'
        "</div>"
    )


def sizes(profile: Profile, spawner: ProfileChoice) -> list[str]:
    """What the profile gives: image, memory, CPUs, GPUs and shared folders."""
    memory = profile.mem_limit or spawner.configured["mem_limit"]
    cpus = profile.cpu_limit or spawner.configured["cpu_limit"]
    parts = [str(profile.image)]
    parts += [f"{memory if isinstance(memory, str) else human_bytes(memory)} memory"] if memory else []
    parts += [f"{cpus:g} CPU"] if cpus else []
    parts += [f"GPUs: {gpus_shown(profile.gpus)}"] if profile.gpus is not None else []
    parts += [f"{v.mount_path} ({'read-only' if v.read_only else 'shared, writable'})" for v in profile.volumes]
    return parts


def human_bytes(count: int) -> str:
    for unit, size in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if count >= size and count % size == 0:
            return f"{count // size}{unit}"
    return f"{count} bytes"
