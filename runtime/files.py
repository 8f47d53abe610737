"""Small files written whole: a reader, or a power cut, sees the old file or the new one, never
a part of it. The one atomic write of the project."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: str | Path, data: bytes, *, fsync: bool = True, mode: int = 0o644) -> Path:
    """Replace `path` with `data`: a temporary file in the same directory, then a rename.

    With `fsync` (the default) the data and the directory entry reach the disk before this
    returns, so a power cut leaves the old or the new file. Without it only readers are protected:
    for status files rewritten every few seconds, where an SD card's wear matters more.
    `mode` sets the file's permission bits regardless of the umask (the temporary file is 0600
    until then, so a secret is never readable by others, not even briefly). Raises OSError; the
    temporary file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if fsync:
        try:
            dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
    return path


def read_bytes(path: str | Path) -> bytes | None:
    """The file's bytes, or None when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError:
        return None
