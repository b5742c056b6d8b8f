"""Names of the appliance's images: one registry prefix, one version for all three.

Published images are REGISTRY/jupyterhub-appliance-{hub,singleuser,systemuser}:VERSION, where VERSION
is this package's `__version__`; compose files and Dockerfiles carry the same literal, which
`appliance docs` checks and `appliance docs --write` updates.
"""

from appliance import __version__

DEFAULT_REGISTRY = "ghcr.io/jupyterhub-appliance"
KINDS = ("hub", "singleuser", "systemuser")


def image_name(kind: str, registry: str = DEFAULT_REGISTRY, version: str = __version__) -> str:
    """The reference of one of the appliance's images, such as ghcr.io/owner/jupyterhub-appliance-hub:1.2.3."""
    if kind not in KINDS:
        raise ValueError(f"unknown image kind {kind!r}; one of {', '.join(KINDS)}")
    return f"{registry.rstrip('/')}/jupyterhub-appliance-{kind}:{version}"
