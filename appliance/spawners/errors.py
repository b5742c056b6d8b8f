"""Why a spawn failed, in words JupyterHub shows to the person who started it.

Both are JupyterHub's SpawnException (an HTTPError): however fast a spawn fails, from the spawn page or
the REST API, JupyterHub passes the message and status on to the user rather than a generic error 500,
and counts the failure under its reason in the spawn metrics.
"""

from jupyterhub.spawner import SpawnException

# Statuses by cause: what this host lacks (an image, GPUs, a node), a server that failed or did not answer.
UNAVAILABLE = 503
SERVER_FAILED = 502
NO_ANSWER = 504
CONFLICT = 409
INTERNAL = 500


class SpawnError(SpawnException):
    """A spawn that cannot succeed; its message reaches the spawn page, the progress stream and API errors."""

    def __init__(self, message: str, status: int = INTERNAL, reason: str = "error"):
        super().__init__(message, reason=reason, status_code=status)
        self.jupyterhub_message = message


class SpawnRefused(SpawnError):
    """A spawn refused for a reason the user should read (not allowed, a bad choice), with its 4xx status."""

    def __init__(self, status: int, message: str):
        super().__init__(message, status=status, reason="refused")
