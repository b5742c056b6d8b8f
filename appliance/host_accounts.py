"""The host's user accounts, read from its passwd and group files (mounted read-only into the hub)."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    supplementary_gids: tuple[int, ...]


def find_account(name: str, passwd_file: str, group_file: str) -> Account | None:
    """The account called name, with the groups that list it as a member; None when there is none."""
    for fields in records(passwd_file):
        if len(fields) >= 4 and fields[0] == name:
            uid, gid = int(fields[2]), int(fields[3])
            groups = tuple(
                int(group[2])
                for group in records(group_file)
                if len(group) >= 4 and name in group[3].split(",") and int(group[2]) != gid
            )
            return Account(name, uid, gid, groups)
    return None


def group_id(name: str, group_file: str) -> int | None:
    """The gid of the host group called name; None when there is none."""
    for fields in records(group_file):
        if len(fields) >= 3 and fields[0] == name:
            return int(fields[2])
    return None


def in_group(account: Account, gid: int) -> bool:
    return gid == account.gid or gid in account.supplementary_gids


def records(path: str) -> list[list[str]]:
    lines = Path(path).read_text().splitlines()
    return [line.split(":") for line in lines if line and not line.startswith("#")]
