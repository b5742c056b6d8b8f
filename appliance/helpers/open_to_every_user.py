"""Run on a profile's new writable shared volume (a scratch), as root with no capability and no network: mode
0777, and a default POSIX ACL (user, group and other: rwx), so that new files are 0666 and new folders 0777
whatever the creator's umask. Where the file system has no ACLs, only the mode, and a line on stderr."""

import os
import struct
import sys

ACL_VERSION = 2
# ACL_USER_OBJ, ACL_GROUP_OBJ, ACL_OTHER, each rwx (7), with no id.
RWX_FOR_ALL = b"".join(struct.pack("<HHI", tag, 7, 0xFFFFFFFF) for tag in (0x01, 0x04, 0x20))


def open_to_every_user(path: str) -> str:
    """Set the mode and the default ACL; return what could not be done ("" when all was)."""
    os.chmod(path, 0o777)
    try:
        os.setxattr(path, "system.posix_acl_default", struct.pack("<I", ACL_VERSION) + RWX_FOR_ALL)
    except OSError as error:
        return f"no default ACL ({error.strerror}); new files follow each user's umask"
    return ""


if __name__ == "__main__":
    missing = open_to_every_user(sys.argv[1])
    if missing:
        print(missing, file=sys.stderr)
