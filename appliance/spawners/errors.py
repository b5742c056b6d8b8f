"""Why a spawn failed, in words JupyterHub shows to the person who started it."""

from tornado import web


class SpawnError(RuntimeError):
    """A spawn that cannot succeed; JupyterHub shows its message on the spawn page and in API errors."""

    def __init__(self, message: str):
        super().__init__(message)
        self.jupyterhub_message = message


class SpawnRefused(web.HTTPError):
    """A spawn refused for a reason the user should read, with a 4xx status rather than a 500."""

    def __init__(self, status: int, message: str):
        super().__init__(status, message)
        self.jupyterhub_message = message
