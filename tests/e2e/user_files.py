"""Code to run in a user's kernel: files of every kind written under a folder (random data in nested folders,
dotfiles, a private key), and their checksums, to compare before and after an upgrade, an archive or a restore."""


def writing(root: str, paths: tuple[str, ...], seed: int) -> str:
    """Random content, up to 300 kB a file; a path under .ssh is made private (0600)."""
    return f"""
import os, random
random.seed({seed})
for path in {paths!r}:
    full = os.path.join({root!r}, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    open(full, 'wb').write(random.randbytes(random.randint(1, 300_000)))
    if '.ssh/' in path:
        os.chmod(full, 0o600)
"""


def checksums(root: str, paths: tuple[str, ...]) -> str:
    """Prints `path sha256` for each path, in order."""
    return f"""
import hashlib, os
for path in {paths!r}:
    print(path, hashlib.sha256(open(os.path.join({root!r}, path), 'rb').read()).hexdigest())
"""


# Writes in 1 MB chunks, flushed, until the file system says no; prints the error's name and how far it got.
FILL = """
import errno, os
written = 0
try:
    with open("filler", "wb") as out:  # in the folder JupyterLab opens in
        for _ in range({mb}):
            out.write(b"x" * 2**20)
            out.flush()
            os.fsync(out.fileno())
            written += 1
    print("written", written)
except OSError as error:
    print(errno.errorcode[error.errno], written)
"""


def assert_writes_stop_at_quota(person, quota_mb: int) -> None:
    """Writing twice the quota stops near it, with EDQUOT."""
    error, written = person.run_once(FILL.format(mb=quota_mb * 2)).split()
    assert error == "EDQUOT" and quota_mb - 10 <= int(written) <= quota_mb, (error, written)
