"""The archive helper, run on folders of the test's own: what it writes holds every entry, and reads back."""

import json
import os
import tarfile
from pathlib import Path

import pytest

from appliance.helpers import archive_volumes
from appliance.helpers.archive_volumes import archive


@pytest.fixture
def volumes(tmp_path: Path) -> Path:
    """Two volumes as the helper sees them: nested folders, a dotfile, a private file, a link, an empty folder."""
    root = tmp_path / "volumes"
    home = root / "course-user-alice"
    (home / "work" / "data" / "deep").mkdir(parents=True)
    (home / "work" / "data" / "deep" / "big.bin").write_bytes(os.urandom(300_000))
    (home / ".gitconfig").write_text("[user]\n\tname = Alice\n")
    (home / ".ssh").mkdir(mode=0o700)
    (home / ".ssh" / "id_ed25519").write_text("private\n")
    (home / ".ssh" / "id_ed25519").chmod(0o600)
    (home / "latest").symlink_to("work/data")
    (home / "empty").mkdir()
    (root / "course-user-alice.home").mkdir()
    (root / "course-user-alice.home" / "notes.txt").write_text("notes\n")
    return root


def test_the_archive_holds_every_entry_with_its_content_mode_and_links(volumes, tmp_path):
    target = tmp_path / "archives" / "alice.tar.gz"
    target.parent.mkdir()
    summary = archive(volumes, target)
    assert summary["archive"] == "alice.tar.gz" and summary["bytes"] == 300_000 + 21 + 8 + 6
    with tarfile.open(target) as tar:
        members = {member.name: member for member in tar}
        assert (
            tar.extractfile("volumes/course-user-alice/work/data/deep/big.bin").read()
            == (volumes / "course-user-alice/work/data/deep/big.bin").read_bytes()
        )
    assert members["volumes/course-user-alice/latest"].issym()
    assert members["volumes/course-user-alice/latest"].linkname == "work/data"
    assert members["volumes/course-user-alice/.ssh/id_ed25519"].mode == 0o600
    assert members["volumes/course-user-alice/empty"].isdir()
    assert "volumes/course-user-alice.home/notes.txt" in members
    assert summary["entries"] == len(members) and not list(target.parent.glob("*.partial"))


def test_an_unreadable_folder_fails_the_archive_and_leaves_nothing(volumes, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every folder")
    locked = volumes / "course-user-alice" / "work" / "data"
    locked.chmod(0)
    target = tmp_path / "alice.tar.gz"
    try:
        with pytest.raises(PermissionError):
            archive(volumes, target)
    finally:
        locked.chmod(0o755)
    assert list(tmp_path.iterdir()) == [volumes]


def test_the_helper_takes_only_a_plain_archive_name_and_never_overwrites(volumes, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(archive_volumes, "ARCHIVE_SOURCES", str(volumes))
    monkeypatch.setattr(archive_volumes, "ARCHIVE_TARGET", str(tmp_path))
    monkeypatch.setenv("ARCHIVE_NAME", "../escape.tar.gz")
    assert archive_volumes.main() == 1 and "is not a file name" in capsys.readouterr().err
    monkeypatch.setenv("ARCHIVE_NAME", "alice.tar.gz")
    assert archive_volumes.main() == 0
    assert json.loads(capsys.readouterr().out)["archive"] == "alice.tar.gz"
    assert archive_volumes.main() == 1 and "is not overwritten" in capsys.readouterr().err
