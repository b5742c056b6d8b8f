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
    waiting: Callable[[Exception, int], str],
    gave_up: Callable[[Exception, int], str],
    report: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> T:
    """`try_once()`'s answer; on `failure`, `report`s `waiting(error, attempt)` and tries again, every PAUSE_SECONDS,
    until the next try would end past `seconds`: then `failure(gave_up(error, attempts))`."""
    deadline, attempt = clock() + seconds, 0
    while True:
        attempt += 1
        try:
            return try_once()
        except failure as error:
            if clock() + PAUSE_SECONDS > deadline:
                raise failure(gave_up(error, attempt)) from None
            report(waiting(error, attempt))
            pause(PAUSE_SECONDS)
