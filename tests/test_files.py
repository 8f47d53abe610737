"""runtime.files.atomic_write, the one atomic write of the project: whole files, the permission
bits asked for, nothing left behind when a write fails."""
from __future__ import annotations

import os
import stat

import pytest

from runtime.files import atomic_write, read_bytes


def mode_of(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_default_mode_is_readable_by_all_and_a_secret_by_its_owner_only(tmp_path):
    assert mode_of(atomic_write(tmp_path / "status.json", b"{}", fsync=False)) == 0o644
    assert mode_of(atomic_write(tmp_path / "site.passwd", b"user:hash\n", mode=0o600)) == 0o600


def test_the_umask_does_not_take_bits_away(tmp_path):
    old = os.umask(0o077)
    try:
        assert mode_of(atomic_write(tmp_path / "site.toml", b"x")) == 0o644
    finally:
        os.umask(old)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    p = tmp_path / "appointments.json"
    atomic_write(p, b"old")
    with pytest.raises(TypeError):
        atomic_write(p, object())  # type: ignore[arg-type]  # the write itself raises
    assert p.read_bytes() == b"old"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["appointments.json"]


def test_read_bytes_is_none_for_a_missing_file(tmp_path):
    assert read_bytes(tmp_path / "nothing") is None
    assert read_bytes(atomic_write(tmp_path / "a", b"1")) == b"1"
