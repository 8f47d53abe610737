"""The wheel carries what the code finds through core.resources, and an installed wheel works
from outside the checkout.

The wheel is built once, from a copy of the checkout's files that git knows of (so without the
.mo files `make locale` left here: the build must compile them itself), without build isolation
(no network: setuptools and Babel come from the checkout's .venv).

The install goes into a fresh virtual environment (not editable, no system site-packages) with
`pip install --no-deps --no-index`. The dependencies cannot be fetched without the network, so a
.pth file puts the .venv's site-packages at the end of the new environment's path: the same
dependency versions the suite runs with. That .venv holds no code of the project (its editable
install is a path hook that a .pth-added folder never activates), and the commands run in a
temporary folder without PYTHONPATH, so every module and data file must come from the wheel;
the test checks that it does. `make wheel-check` (.ci/run) does the whole install from the
package registry, dependencies included.
"""
from __future__ import annotations

import gettext
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from core.i18n import DOMAINS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DATA_PACKAGES = {"palvelupiste_assets": "assets", "palvelupiste_systemd": "systemd"}


def tracked_files() -> list[str]:
    """The checkout's files as a clean clone of this tree would have them (committed or not)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                         capture_output=True, check=True).stdout.decode()
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    for rel in tracked_files():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    assert not list((src / "assets").rglob("*.mo")), "a clean checkout has no compiled catalogs"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                        "-q", "-w", str(work / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    [whl] = (work / "dist").glob("palvelupiste-*.whl")
    return whl


@pytest.fixture(scope="module")
def wheel_files(wheel) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns its bin folder."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q",
                        str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    purelib = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    (purelib / "zz-checkout-venv-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def run_installed(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_pyproject_lists_every_package_of_the_tree():
    """The packages are listed by hand in pyproject.toml (the data folders need a mapping):
    a package added to the tree and not there would be missing from the wheel."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    tops = [p.parent for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests"]
    on_disk = {p.parent.relative_to(ROOT).as_posix().replace("/", ".") for top in tops for p in top.rglob("__init__.py")}
    assert set(tool["packages"]) == on_disk | set(DATA_PACKAGES)
    assert tool["package-dir"] == DATA_PACKAGES


def test_wheel_holds_every_source_and_data_file_and_the_compiled_catalogs(wheel_files):
    expected = set()
    for rel in tracked_files():
        top, _, rest = rel.partition("/")
        if rel.endswith(".py") and (ROOT / top / "__init__.py").exists() and top != "tests":
            expected.add(rel)
        for package, folder in DATA_PACKAGES.items():
            if top == folder:
                expected.add(f"{package}/{rest}")
    assert expected - wheel_files == set()
    assert not any(name.startswith(("tests/", "assets/", "systemd/")) for name in wheel_files)

    assets, units = "palvelupiste_assets", "palvelupiste_systemd"
    assert f"{assets}/sites/example.toml" in wheel_files
    assert {f"{assets}/keyboards/{k}.json" for k in ("fi_sv", "ru", "uk")} <= wheel_files
    for domain, langs in DOMAINS.items():
        for lang in langs:
            if lang != "en" or f"{assets}/locale/en/LC_MESSAGES/{domain}.po" in wheel_files:
                assert f"{assets}/locale/{lang}/LC_MESSAGES/{domain}.mo" in wheel_files, (lang, domain)
    for role in ("hub", "kiosk", "display", "counter", "feedback", "sync"):
        assert f"{units}/palvelupiste-{role}.service" in wheel_files
    assert f"{units}/mosquitto.service.d/palvelupiste.conf" in wheel_files
    for name in ("site-broker.conf.in", "central-broker.conf.in", "site-acl-header.in", "central-acl-header.in"):
        assert f"{units}/mosquitto/{name}" in wheel_files


def test_the_compiled_catalogs_translate(wheel):
    with zipfile.ZipFile(wheel) as z:
        for lang, expected in (("fi", "Ota vuoronumero"), ("sv", "Ta en kölapp")):
            mo = z.read(f"palvelupiste_assets/locale/{lang}/LC_MESSAGES/kiosk.mo")
            assert gettext.GNUTranslations(io.BytesIO(mo)).gettext("Take a number") == expected


def test_installed_wheel_runs_outside_the_checkout(installed, tmp_path):
    site = run_installed(installed, "palvelupiste", "example-site", "--path", cwd=tmp_path)
    assert site.returncode == 0, site.stderr
    site_path = Path(site.stdout.strip())
    assert site_path.is_file() and installed.parent in site_path.parents, site_path

    check = run_installed(installed, "palvelupiste", "check-config", str(site_path), cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ok" in check.stdout

    # Every file the code reads comes from the installed package, never from the checkout.
    probe = run_installed(installed, "python", "-c", """
import json
import appliance.units as units, bus.brokerconf as bc, core, core.i18n as i18n
from core import resources
print(json.dumps({
    "code": core.__file__, "locale": str(i18n.LOCALE_DIR), "units": str(units.SYSTEMD_DIR),
    "keyboards": str(resources.asset("keyboards")), "broker": str(bc.TEMPLATE_DIR),
    "fi": i18n.translator("fi", "kiosk").gettext("Take a number"),
    "unit": units.render_unit("palvelupiste-hub.service"),
    "conf": bc.template("site-broker.conf.in"),
}))
""", cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    for key in ("code", "locale", "units", "keyboards", "broker"):
        assert installed.parent in Path(found[key]).parents, (key, found[key])
    assert found["fi"] == "Ota vuoronumero"
    assert "ExecStart=" in found["unit"] and "listener" in found["conf"]

    day = run_installed(installed, "palvelupiste", "demo", "--engine-only", "--tickets", "40", "--output",
                        str(tmp_path / "day"), cwd=tmp_path)
    assert day.returncode == 0, day.stdout + day.stderr
    assert (tmp_path / "day" / "summary.json").is_file()
