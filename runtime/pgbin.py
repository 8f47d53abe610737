"""Where PostgreSQL's programs are (pg_dump, pg_restore, initdb, ...). Debian keeps them per major
version in /usr/lib/postgresql/<version>/bin/ and puts only wrappers (or nothing, for initdb and
pg_ctl) on PATH; the newest installed version is taken, since pg_dump must be at least as new as
the server it dumps. Used by the central backup (central/backup.py) and by the tests' and the
demo's throw-away clusters (sim/postgres.py)."""
from __future__ import annotations

import glob
import shutil
from pathlib import Path

DEBIAN_GLOB = "/usr/lib/postgresql/*/bin"


def _version(bindir: str) -> tuple[int, ...]:
    name = Path(bindir).parent.name
    try:
        return tuple(int(p) for p in name.split("."))
    except ValueError:
        return (0,)


def pg_bindir(program: str = "pg_dump") -> Path | None:
    """The folder holding `program`: Debian's newest /usr/lib/postgresql/<v>/bin that has it, else
    the folder of the one on PATH, else None (PostgreSQL's client programs are not installed)."""
    found = sorted((d for d in glob.glob(DEBIAN_GLOB) if (Path(d) / program).is_file()), key=_version)
    if found:
        return Path(found[-1])
    on_path = shutil.which(program)
    return Path(on_path).parent if on_path else None


def pg_program(program: str) -> Path | None:
    """The full path of `program` (see pg_bindir), or None."""
    d = pg_bindir(program)
    return d / program if d is not None else None
