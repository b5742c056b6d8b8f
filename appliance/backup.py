"""`appliance backup` and `appliance restore`: one archive with the hub's database and stored secrets.

User volumes are never in it. A sqlite database is copied with sqlite's online backup, PostgreSQL
with pg_dump (custom format), so a backup is safe while the hub runs. A restore refuses while a hub
uses the same data; it moves whatever it replaces to DATA_DIR/backups instead of deleting it, and
restores PostgreSQL only into an empty database.
"""

import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from appliance import __version__
from appliance.database import (
    DatabaseError,
    backups_dir,
    check_known_revision,
    connect_url,
    is_postgres,
    jupyterhub_revisions,
    jupyterhub_version,
    online_copy,
    schema_revision,
    sqlite_file,
    timestamp,
)
from appliance.declarations import Settings, present, value_of
from appliance.layout import SECRETS_FOLDER
from appliance.secret_store import STORED_SECRETS, secret_path

MANIFEST = "manifest.json"
DATABASE_MEMBER = "jupyterhub.sqlite"
POSTGRES_MEMBER = "jupyterhub.pgdump"
# The manifest's "database" (absent in archives from before PostgreSQL) and the member that holds it.
DATABASE_MEMBERS = {"sqlite": DATABASE_MEMBER, "postgresql": POSTGRES_MEMBER}
SECRET_MEMBERS = {f"{SECRETS_FOLDER}/{secret.file_name}": secret for secret in STORED_SECRETS}
ARCHIVE_FORMAT = "jupyterhub-appliance-backup/1"
MANIFEST_KEYS = {  # key: the type its value must have
    "format": str,
    "appliance_version": str,
    "jupyterhub_version": str,
    "schema_revision": str,
    "created": str,
    "secrets_from_environment": list,
}
# The most a restore writes: a manifest and secrets are small; the database may be raised with --max-size.
SMALL_MEMBER_BYTES = 64 * 1024
DEFAULT_MAX_DATABASE_BYTES = 4 * 1024**3

Report = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore that cannot go ahead; nothing was changed."""


def database_of(settings: Settings) -> Path:
    path = sqlite_file(settings["DATABASE_URL"])
    if path is None:
        raise BackupError("DATABASE_URL is an in-memory sqlite database, which cannot be backed up.")
    return path


def database_kind(settings: Settings) -> str:
    return "postgresql" if is_postgres(settings["DATABASE_URL"]) else "sqlite"


def default_archive_path(settings: Settings) -> Path:
    return backups_dir(settings["DATA_DIR"]) / f"appliance-backup-{timestamp()}.tar.gz"


def create_backup(settings: Settings, output: BinaryIO, report: Report) -> list[str]:
    """Write the archive to output; returns its member names."""
    kind = database_kind(settings)
    with tempfile.TemporaryDirectory(dir=backups_dir(settings["DATA_DIR"])) as folder:
        copy = Path(folder) / DATABASE_MEMBERS[kind]
        revision = copy_database(settings, copy, report)
        secrets = {member: secret_path(settings["DATA_DIR"], s) for member, s in SECRET_MEMBERS.items()}
        stored = {member: path for member, path in secrets.items() if path.exists()}
        manifest = {
            "format": ARCHIVE_FORMAT,
            "database": kind,
            "appliance_version": __version__,
            "jupyterhub_version": jupyterhub_version(),
            "schema_revision": revision,
            "created": timestamp(),
            # Secrets set in the environment are not stored, so a restore needs them set again.
            "secrets_from_environment": [s.name for s in STORED_SECRETS if value_of(settings, s.name)],
        }
        with tarfile.open(fileobj=output, mode="w:gz") as archive:
            add_bytes(archive, MANIFEST, json.dumps(manifest, indent=2).encode())
            archive.add(copy, copy.name)
            for member, path in stored.items():
                archive.add(path, member)
        report(f"Backed up the database and {len(stored)} stored secret(s); user volumes are not included.")
        return [MANIFEST, copy.name, *stored]


def copy_database(settings: Settings, copy: Path, report: Report) -> str:
    """A consistent copy of the database at `copy`; returns its schema revision."""
    if database_kind(settings) == "postgresql":
        from appliance import postgres

        url = connect_url(settings)
        revision = postgres.schema_revision(url)
        if revision is None:
            raise BackupError(f"The database at {postgres.server_of(url)} has no hub tables yet: start the hub once.")
        report(f"Dumping the database at {postgres.server_of(url)} (pg_dump, custom format)")
        postgres.dump(url, copy, report)
        return revision
    database = database_of(settings)
    if not database.exists():
        raise BackupError(f"There is no database at {database} yet: start the hub once before backing it up.")
    report(f"Copying {database} (sqlite online backup)")
    online_copy(database, copy, report)
    revision = schema_revision(copy)
    if revision is None:
        raise BackupError(f"The database at {database} has no hub tables yet: start the hub once.")
    return revision


def add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    archive.addfile(info, io.BytesIO(data))


def restore_backup(
    settings: Settings,
    source: BinaryIO,
    hubs_running: list[str],
    report: Report,
    max_database_bytes: int = DEFAULT_MAX_DATABASE_BYTES,
) -> Path | None:
    """Put the archive's database and secrets in place; returns where the replaced files were moved.

    The archive is trusted completely once it is restored (it carries the cookie secret), but not before:
    only known members, of bounded size, and a manifest of the expected form get through.
    """
    if hubs_running:
        raise BackupError(
            f"The hub is running ({', '.join(hubs_running)}) and would overwrite what is restored. "
            "Stop it first: `docker compose stop hub`, then restore with `docker compose run --rm -T hub restore - "
            "< ARCHIVE`."
        )
    kind = database_kind(settings)
    data_dir = Path(settings["DATA_DIR"])
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".restore-") as folder:
        staged = Path(folder)
        manifest = unpack(source, staged, max_database_bytes)
        check_restorable(manifest, staged, kind)
        for name in manifest["secrets_from_environment"]:
            report(f"{name} was set in the environment when this backup was made: set it to the same value again.")
        secrets = [secret_path(str(data_dir), s) for s in STORED_SECRETS]
        if kind == "postgresql":
            from appliance import postgres

            postgres.restore(connect_url(settings), staged / POSTGRES_MEMBER, report)
            replaced = move_aside(secrets, data_dir)
        else:
            replaced = move_aside([database_of(settings), *secrets], data_dir)
            os.replace(staged / DATABASE_MEMBER, database_of(settings))
        if replaced:
            report(f"Moved what the restore replaces to {replaced}")
        secrets_folder = data_dir / SECRETS_FOLDER
        secrets_folder.mkdir(mode=0o700, exist_ok=True)
        for member, secret in SECRET_MEMBERS.items():
            if (staged / member).exists():
                os.replace(staged / member, secret_path(str(data_dir), secret))
    made = f"{printable(manifest['created'])} by appliance {printable(manifest['appliance_version'])}"
    report(
        f"Restored the backup made {made} (JupyterHub {printable(manifest['jupyterhub_version'])}). "
        "Start the hub: `docker compose up -d`."
    )
    return replaced


def printable(text: str) -> str:
    """Text from an archive, with control characters escaped so that it cannot drive the terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in str(text))


def unpack(source: BinaryIO, staged: Path, max_database_bytes: int) -> dict:
    """Extract only the members a backup has, as private regular files within their size limits; return the
    manifest. A member's size is checked from its header, before any of it is written."""
    limits = {MANIFEST: SMALL_MEMBER_BYTES} | dict.fromkeys(DATABASE_MEMBERS.values(), max_database_bytes)
    limits |= dict.fromkeys(SECRET_MEMBERS, SMALL_MEMBER_BYTES)
    free = shutil.disk_usage(staged).free
    written = 0
    try:
        with tarfile.open(fileobj=source, mode="r|gz") as archive:
            for member in archive:
                if member.name not in limits or not member.isfile():
                    name = printable(member.name)
                    raise BackupError(f"{name!r} does not belong in an appliance backup; nothing was restored.")
                check_size(member, limits[member.name], written, free)
                written += member.size
                target = staged / member.name
                target.parent.mkdir(mode=0o700, exist_ok=True)
                descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as file:
                    shutil.copyfileobj(present(archive.extractfile(member)), file)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise BackupError(f"This is not a readable appliance backup ({error}); nothing was restored.") from None
    try:
        manifest = json.loads((staged / MANIFEST).read_text())
    except (OSError, ValueError):
        raise BackupError("The archive has no valid manifest.json; nothing was restored.") from None
    check_manifest(manifest)
    database = DATABASE_MEMBERS.get(manifest.get("database", "sqlite"))
    if manifest["format"] != ARCHIVE_FORMAT or database is None or not (staged / database).exists():
        raise BackupError(f"The archive is not a {ARCHIVE_FORMAT} backup with a database; nothing was restored.")
    return manifest


def check_size(member: tarfile.TarInfo, limit: int, written: int, free: int) -> None:
    if member.size > limit:
        is_database_member = member.name in DATABASE_MEMBERS.values()
        raise BackupError(
            f"{member.name} in the archive is {member.size} bytes, more than the {limit} bytes a restore accepts; "
            "nothing was restored."
            + (" Raise the limit with `appliance restore --max-size 20G …`." if is_database_member else "")
        )
    if written + member.size > free:
        raise BackupError(
            f"The archive unpacks to more than the {free} bytes free in DATA_DIR; nothing was restored. "
            "Free some space on its volume first."
        )


def check_manifest(manifest) -> None:
    """Every key a manifest has, with the type it must have; secrets only by the names the appliance stores."""
    if not isinstance(manifest, dict):
        raise BackupError("manifest.json is not a JSON object; nothing was restored.")
    wrong = [key for key, kind in MANIFEST_KEYS.items() if not isinstance(manifest.get(key), kind)]
    names = manifest.get("secrets_from_environment")
    known = {secret.name for secret in STORED_SECRETS}
    if isinstance(names, list) and not all(isinstance(name, str) and name in known for name in names):
        wrong.append("secrets_from_environment")
    database = manifest.get("database", "sqlite")
    if not isinstance(database, str) or database not in DATABASE_MEMBERS:
        wrong.append("database")
    if wrong:
        raise BackupError(
            f"manifest.json lacks or has malformed {', '.join(wrong)}; nothing was restored. "
            "Use an archive written by `appliance backup`."
        )


def check_restorable(manifest: dict, staged: Path, kind: str) -> None:
    """The archive holds the kind of database the settings name, with a schema this JupyterHub knows."""
    archived = manifest.get("database", "sqlite")
    if archived != kind:
        raise BackupError(
            f"The archive holds a {printable(archived)} database, but DATABASE_URL names {kind}; nothing was restored. "
            "Restore with the settings it was made with; to move from sqlite to PostgreSQL, restore first, then "
            "run `appliance migrate-db` (see docs/postgresql.md)."
        )
    _, known = jupyterhub_revisions()
    database = staged / DATABASE_MEMBER
    revision = schema_revision(database) if kind == "sqlite" else manifest["schema_revision"]
    try:
        check_known_revision("The archive's database", revision, known, kind=kind)
    except DatabaseError as error:
        raise BackupError(f"{error} Nothing was restored.") from None


def move_aside(paths: list[Path], data_dir: Path) -> Path | None:
    existing = [path for path in paths if path.exists()]
    if not existing:
        return None
    aside = backups_dir(str(data_dir)) / f"replaced-by-restore-{timestamp()}"
    aside.mkdir(mode=0o700)
    for path in existing:
        os.replace(path, aside / path.name)
    return aside
