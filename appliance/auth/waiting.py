"""Bounded waiting at the hub's start for a service its login needs (an OIDC provider, an LMS's keyset), which may
come up a few seconds after the hub."""

import time
from collections.abc import Callable
from typing import TypeVar

PAUSE_SECONDS = 2
T = TypeVar("T")


def retried_for(
    seconds: float,
    try_once: Callable[[], T],
    failure: type[Exception],
    setting: tuple[str, str],
    advice: str,
    report: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> T:
    """`try_once()`'s answer. On `failure` it reports the wait, naming the setting (name, value), and tries again
    every PAUSE_SECONDS until the next try would end past `seconds`; then raises `failure` with the last error, the
    attempts and `advice`."""
    name, value = setting
    deadline, attempt = clock() + seconds, 0
    while True:
        attempt += 1
        try:
            return try_once()
        except failure as error:
            if clock() + PAUSE_SECONDS > deadline:
                raise failure(f"{name}={value!r} {error}; tried {attempt} times in {seconds:g} s. {advice}") from None
            report(f"Waiting for {name} {value}: it {error} (attempt {attempt}).")
            pause(PAUSE_SECONDS)
