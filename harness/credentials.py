"""The test deployments' passwords: made for each run, so that no test can depend on one (and a log that shows
one is caught by tests that look for it)."""

import secrets
import string

ALPHABET = string.ascii_letters + string.digits


def generated(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


# JupyterHub's shared password login asks 32 characters of the admins' password.
ADMIN_PASSWORD = generated(40)
USER_PASSWORD = generated(20)
