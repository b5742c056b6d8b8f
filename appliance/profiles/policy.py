"""Who may start what: the profiles of this hub, and the one a server's options choose for its owner (the rule the
spawner enforces at every start, whoever asks)."""

from collections.abc import Iterable, Mapping
from dataclasses import replace

from appliance.declarations import Settings, present
from appliance.profiles.model import ONLY_PROFILE, Profile, from_images


class ProfileRefused(Exception):
    """A choice the user may not make; `status` is the HTTP status to answer with (400 or 403)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


OPTION_KEYS = ("profile", "image")


def chosen(profiles: tuple[Profile, ...], options: Mapping, groups: Iterable[str], user: str) -> Profile:
    """The profile that options (a server's user_options) choose for a member of these groups, or ProfileRefused.

    `{"profile": NAME}` chooses by name; `{"image": REF}` (ALLOWED_IMAGES' form) the first open profile with that
    image; nothing, the default profile, else the first open one.
    """
    groups = set(groups)
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        raise ProfileRefused(400, f"Unknown server option(s): {', '.join(unknown)}. This hub takes profile.")
    open_ones = [p for p in profiles if p.open_to(groups)]
    if not open_ones:
        raise ProfileRefused(403, f"No profile of this hub is open to {user}. Ask an admin to add {user} to a group.")
    offered = ", ".join(p.name for p in open_ones)
    name, reference = options.get("profile"), options.get("image")
    if name is not None:
        profile = by_name(profiles, name, offered)
        if not profile.open_to(groups):
            raise ProfileRefused(
                403,
                f"The profile {name} is for members of {', '.join(profile.groups)}, and {user} is in none of these "
                f"groups. Profiles open to {user}: {offered}.",
            )
    elif reference is not None:
        matching = next((p for p in open_ones if p.image == reference), None)
        if matching is None:
            raise ProfileRefused(
                403, f"The image {reference!r} is not in a profile open to {user}. Profiles open to {user}: {offered}."
            )
        profile = matching
    else:
        profile = next((p for p in open_ones if p.default), open_ones[0])
    if reference is not None and profile.image != reference:
        raise ProfileRefused(400, f"The image {reference!r} is not the image of the profile {profile.name}.")
    return profile


def by_name(profiles: tuple[Profile, ...], name: object, offered: str) -> Profile:
    profile = next((p for p in profiles if p.name == name), None) if isinstance(name, str) else None
    if profile is None:
        shown = str(name)[:80]
        raise ProfileRefused(400, f"There is no profile {shown!r} on this hub. Profiles open to you: {offered}.")
    return profile


def images_in_use(settings: Settings) -> list[str]:
    """The image of each profile in use, in order, once each."""
    return list(dict.fromkeys(present(profile.image) for profile in in_use(settings)))


def in_use(settings: Settings) -> tuple[Profile, ...]:
    """The profiles of this hub: the file's, else one per ALLOWED_IMAGES entry, else one with the global settings;
    each with an image (SINGLEUSER_IMAGE where it names none)."""
    source, images, default_image = settings["PROFILES_FILE"], settings["ALLOWED_IMAGES"], settings["SINGLEUSER_IMAGE"]
    profiles: tuple[Profile, ...]
    if source:
        profiles = source.profiles
    elif images:
        profiles = from_images(default_image, images)
    else:
        profiles = (ONLY_PROFILE,)
    return tuple(p if p.image else replace(p, image=default_image) for p in profiles)
