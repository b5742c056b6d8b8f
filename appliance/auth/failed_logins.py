"""Failed password logins, counted per user name from one client address, and per client address.

A key (a name from an address, or an address) that fails `limit` times within `lockout_seconds` is locked
for `lockout_seconds` after its last failure; while locked, its logins are refused without checking the
password. A name is locked only from the address its failures came from, so that a stranger cannot lock an
admin out from elsewhere; guessing one name from many addresses meets each address's own limit.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Keys whose failures have all aged out are forgotten once there are this many, so a flood of
# made-up names cannot grow the table without bound.
PRUNE_AT = 1000


@dataclass
class Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class FailedLogins:
    def __init__(
        self,
        per_name: int,
        per_address: int,
        lockout_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ):
        # Sign-ups (native mode) are counted per address on their own, with the address's limit.
        self.limits = {"name": per_name, "address": per_address, "sign-up": per_address}
        self.lockout_seconds = lockout_seconds
        self.clock = clock
        self.records: dict[tuple[str, str], Record] = {}

    def wait_seconds(self, name: str, address: str) -> tuple[int, str]:
        """How long until this name from this address may try again (0: now), and which key holds it back."""
        return self.longest_wait(self.keys(name, address))

    def sign_up_wait_seconds(self, address: str) -> tuple[int, str]:
        return self.longest_wait((("sign-up", address),))

    def longest_wait(self, keys) -> tuple[int, str]:
        now = self.clock()
        waits = [
            (record.locked_until - now, kind)
            for kind, record in ((kind, self.records.get((kind, key))) for kind, key in keys)
            if record and record.locked_until > now
        ]
        if not waits:
            return 0, ""
        seconds, kind = max(waits)
        return max(1, int(seconds + 0.999)), kind

    def failed(self, name: str, address: str) -> None:
        for kind, key in self.keys(name, address):
            self.count(kind, key)

    def signed_up(self, address: str) -> None:
        """Count a sign-up from the address (each costs the hub a password hash)."""
        self.count("sign-up", address)

    def count(self, kind: str, key: str) -> None:
        now = self.clock()
        if len(self.records) >= PRUNE_AT:
            self.prune(now)
        record = self.records.setdefault((kind, key), Record())
        record.failures = [at for at in record.failures if at > now - self.lockout_seconds] + [now]
        if len(record.failures) >= self.limits[kind]:
            record.locked_until = now + self.lockout_seconds
            record.failures = []

    def succeeded(self, name: str, address: str) -> None:
        """A right password clears the name's failures from there; the address's stay, since others may share it."""
        self.records.pop(self.keys(name, address)[0], None)

    @staticmethod
    def keys(name: str, address: str) -> tuple[tuple[str, str], ...]:
        return (("name", f"{name} from {address}"), ("address", address))

    def prune(self, now: float) -> None:
        self.records = {
            key: record
            for key, record in self.records.items()
            if record.locked_until > now or any(at > now - self.lockout_seconds for at in record.failures)
        }
