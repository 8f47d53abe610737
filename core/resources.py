"""Where the files that ship with the software are: assets/ and systemd/ of the repository.

Both folders are package data under import names of their own (pyproject.toml, [tool.setuptools]
package-dir): assets/ is `palvelupiste_assets` (catalogs, keyboards, the example site) and
systemd/ is `palvelupiste_systemd` (unit files, Mosquitto templates). The import system finds
them the same way in a checkout with an editable install and in an installed wheel, so nothing
needs to know where the code itself lies.

They hold no __init__.py (they are data, and an importable `systemd` folder in a checkout would
shadow python-systemd), so each is a namespace package. importlib.resources.files() cannot be
used on Python 3.11 for those under an editable install: setuptools' editable finder adds a
placeholder entry to the namespace path and MultiplexedPath refuses it. The folder is therefore
taken from the package's search path: its one real directory.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

ASSETS = "palvelupiste_assets"
TEMPLATES = "palvelupiste_systemd"
#: The example site configuration, relative to the assets.
EXAMPLE_SITE = "sites/example.toml"


class ResourceMissing(FileNotFoundError):
    pass


@functools.cache
def _folder(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    locations = spec.submodule_search_locations if spec else None
    folders = [Path(p) for p in locations or () if Path(p).is_dir()]
    if len(folders) != 1:
        raise ResourceMissing(
            f"package data {package} not found (found {len(folders)} folders): install palvelupiste "
            "with pip (`make install` in a checkout) rather than running it from a bare source tree"
        )
    return folders[0]


def asset(relative: str = "") -> Path:
    """A file or folder under assets/, e.g. asset("locale") or asset(EXAMPLE_SITE)."""
    return _folder(ASSETS) / relative if relative else _folder(ASSETS)


def template(relative: str = "") -> Path:
    """A file or folder under systemd/, e.g. template("mosquitto/site-broker.conf.in")."""
    return _folder(TEMPLATES) / relative if relative else _folder(TEMPLATES)


def example_site() -> Path:
    return asset(EXAMPLE_SITE)
