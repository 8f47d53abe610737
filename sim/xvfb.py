"""A private virtual X server (Xvfb) for one window: the headless demo and the benchmarks.

-displayfd lets Xvfb pick a free display number and tell it, so parallel runs never collide.
"""
from __future__ import annotations

import os
import shutil
import subprocess


class Xvfb:
    def __init__(self, size: tuple[int, int] = (1920, 1080)) -> None:
        self.size = size
        self.proc: subprocess.Popen | None = None
        self.display = ""

    def start(self) -> "Xvfb":
        if not shutil.which("Xvfb"):
            raise RuntimeError("Xvfb is not installed (the xvfb package; make install installs it)")
        r, w = os.pipe()
        width, height = self.size
        self.proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", f"{width}x{height}x24",
                                      "-nolisten", "tcp"], pass_fds=[w], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(w)
        with os.fdopen(r) as f:
            num = f.readline().strip()
        if not num:
            self.stop()
            raise RuntimeError("Xvfb did not start")
        self.display = f":{num}"
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()



def display_or_xvfb(size: tuple[int, int] = (1920, 1080)) -> tuple[Xvfb | None, str]:
    """$DISPLAY when there is one, else a new Xvfb (the caller stops it)."""
    if os.environ.get("DISPLAY"):
        return None, os.environ["DISPLAY"]
    x = Xvfb(size).start()
    return x, x.display
