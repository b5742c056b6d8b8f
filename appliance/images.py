"""Names of the appliance's images: one registry prefix, one version for all three.

Published images are REGISTRY/jupyterhub-appliance-{hub,singleuser,systemuser}:VERSION, where VERSION
is this package's `__version__`; compose files and Dockerfiles carry the same literal, which
`appliance docs` checks and `appliance docs --write` updates.
"""

from packaging.version import InvalidVersion, Version

from appliance import __version__

DEFAULT_REGISTRY = "ghcr.io/jupyterhub-appliance"
KINDS = ("hub", "singleuser", "systemuser")


def image_name(kind: str, registry: str = DEFAULT_REGISTRY, version: str = __version__) -> str:
    """The reference of one of the appliance's images, such as ghcr.io/owner/jupyterhub-appliance-hub:1.2.3."""
    if kind not in KINDS:
        raise ValueError(f"unknown image kind {kind!r}; one of {', '.join(KINDS)}")
    return f"{registry.rstrip('/')}/jupyterhub-appliance-{kind}:{version}"


def jupyterhub_mismatch(image: str, image_version: str | None, hub_version: str) -> str | None:
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
    return (
        f"Image {image} has JupyterHub {image_version}, but this hub runs JupyterHub {hub_version}. A server of "
        f"another major version cannot log in to this hub (it ends in redirect loops or 403 errors), so the spawn "
        f"was refused. Use an image with JupyterHub {major}.x, such as the appliance's own user image, or install "
        f"jupyterhub=={hub_version} in this one."
    )
