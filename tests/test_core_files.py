"""Files written whole or not at all (core/files.py: attachments, signing keys, passphrases)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from geoportal.core.files import write_durably


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_file_is_replaced_whole_readable_by_its_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "private" / "agency.passphrase"
    write_durably(target, b"first\n")
    write_durably(target, b"second\n")
    assert target.read_bytes() == b"second\n"
    assert _mode(target) == 0o600 and _mode(target.parent) == 0o700
    assert sorted(p.name for p in target.parent.iterdir()) == ["agency.passphrase"]


def test_a_failed_write_leaves_the_old_content_and_no_temporary_file(tmp_path: Path) -> None:
    occupied = tmp_path / "blob"
    occupied.mkdir()  # a folder stands under the final name: the rename fails
    (occupied / "inside").write_bytes(b"kept")
    with pytest.raises(OSError):
        write_durably(occupied, b"new content")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob"]
    assert (occupied / "inside").read_bytes() == b"kept"
