"""Only the build step that pyproject.toml cannot declare: compiling the gettext catalogs.

The .mo files are not in git (they are built from the .po files), yet the wheel must carry
them: build_py compiles them into the build tree after copying the package data. An editable
install reads the catalogs from the checkout, so there they are compiled in place (what
`make locale` does).
"""
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# core.catalogs needs only Babel (a build requirement), not the installed package.
sys.path.insert(0, str(HERE))
from core.catalogs import compile_catalogs  # noqa: E402

ASSETS_PACKAGE = "palvelupiste_assets"  # = core.resources.ASSETS; [tool.setuptools] package-dir


class BuildPyWithCatalogs(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            compile_catalogs(HERE / "assets" / "locale")
        else:
            compile_catalogs(Path(self.build_lib) / ASSETS_PACKAGE / "locale", force=True)


setup(cmdclass={"build_py": BuildPyWithCatalogs})
