"""Names of the appliance's images: one registry prefix, one version for all four.

Published images are REGISTRY/jupyterhub-appliance-{hub,singleuser,systemuser,postgres}:VERSION, where VERSION
is this package's `__version__`; compose files and Dockerfiles carry the same literal, which
`appliance docs` checks and `appliance docs --write` updates.
"""

from packaging.version import InvalidVersion, Version

from appliance import __version__

DEFAULT_REGISTRY = "ghcr.io/jupyterhub-appliance"
KINDS = ("hub", "singleuser", "systemuser", "postgres")


def image_name(kind: str, registry: str = DEFAULT_REGISTRY, version: str = __version__) -> str:
    """The reference of one of the appliance's images, such as ghcr.io/owner/jupyterhub-appliance-hub:1.2.3."""
    if kind not in KINDS:
        raise ValueError(f"unknown image kind {kind!r}; one of {', '.join(KINDS)}")
    return f"{registry.rstrip('/')}/jupyterhub-appliance-{kind}:{version}"


# How docker-stacks images start (quay.io/jupyter/*-notebook and images built FROM them).
DOCKER_STACKS_COMMANDS = ("start-notebook.py", "start-notebook.sh", "start-singleuser.py", "start-singleuser.sh")


def looks_like_docker_stacks(image_config: dict) -> bool:
    """Whether an image's config (`docker inspect`'s Config) starts as docker-stacks images do."""
    entrypoint = image_config.get("Entrypoint") or []
    command = image_config.get("Cmd") or []
    return any(part.rsplit("/", 1)[-1] == "start.sh" for part in entrypoint) or bool(
        command and command[0].rsplit("/", 1)[-1] in DOCKER_STACKS_COMMANDS
    )


def pinned_tag(image: str, hub_version: str) -> str:
    """docker-stacks' tag of the same image built with this JupyterHub: REPOSITORY:hub-VERSION."""
    repository = image.split("@", 1)[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]
    return f"{repository}:hub-{hub_version}"


def jupyterhub_mismatch(
    image: str, image_version: str | None, hub_version: str, docker_stacks: bool = False
) -> str | None:
    """Why a server from `image` cannot work with this hub, or None when it can.

    JupyterHub's own rule: single-user servers of the same major version as the hub work with it;
    across major versions the login between them breaks (redirect loops, 403s). An image whose
    version could not be read is let through; it fails, if at all, with its own logs.
    """
    if image_version is None:
        return None
    try:
        same_major = Version(image_version).major == Version(hub_version).major
    except InvalidVersion:
        return f"Image {image} reports JupyterHub version {image_version!r}, which is not a version number."
    if same_major:
        return None
    major = Version(hub_version).major
    problem = (
        f"Image {image} has JupyterHub {image_version}, but this hub runs JupyterHub {hub_version}. A server of "
        f"another major version cannot log in to this hub (it ends in redirect loops or 403 errors), so the spawn "
        f"was refused."
    )
    if docker_stacks:
        return (
            f"{problem} It is a docker-stacks image: use its tag pinned to this hub's JupyterHub, "
            f"{pinned_tag(image, hub_version)} (or build FROM that one), rather than a floating tag such as latest."
        )
    return (
        f"{problem} Use an image with JupyterHub {major}.x, such as the appliance's own user image, or install "
        f"jupyterhub=={hub_version} in this one."
    )
