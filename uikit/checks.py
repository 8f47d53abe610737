"""The doctor's checks of what every Kivy app stands on: a connected screen of a usable size, a
console that never blanks it, and touch input. Read from /sys and /proc (no device is opened,
no Kivy imported), so they answer on a device whose app does not start.

The apps' own checks (kiosk/checks.py, feedback_terminal/checks.py) decide which touch device they
want and whether a missing one is a failure; `touch_result` judges it.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

from runtime.checks import FAIL, OK, SKIP, WARN, Check, Context, Result, ask

MIN_SCREEN = (1024, 600)


@dataclass(frozen=True)
class InputDev:
    path: str
    name: str
    touch: bool


@dataclass(frozen=True)
class Screen:
    connector: str
    connected: bool
    mode: str | None = None  # "1920x1080"


def _bits(words: str, wordbits: int) -> set[int]:
    out: set[int] = set()
    for i, word in enumerate(reversed(words.split())):
        v = int(word, 16)
        for b in range(wordbits):
            if v >> b & 1:
                out.add(i * wordbits + b)
    return out


def input_devices(proc: str = "/proc/bus/input/devices") -> list[InputDev] | None:
    """Input devices from /proc/bus/input/devices (readable by everyone, opens no device).
    None when there is no input subsystem to ask."""
    try:
        text = Path(proc).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    machine = os.uname().machine
    wordbits = 64 if machine.endswith("64") or machine in ("x86_64", "aarch64") else 32
    out = []
    for block in text.split("\n\n"):
        name, handlers, abs_, key = "", "", "", ""
        for line in block.splitlines():
            if line.startswith("N: Name="):
                name = line.split("=", 1)[1].strip().strip('"')
            elif line.startswith("H: Handlers="):
                handlers = line.split("=", 1)[1]
            elif line.startswith("B: ABS="):
                abs_ = line.split("=", 1)[1]
            elif line.startswith("B: KEY="):
                key = line.split("=", 1)[1]
        ev = next((h for h in handlers.split() if h.startswith("event")), None)
        if not ev:
            continue
        absb = _bits(abs_, wordbits) if abs_ else set()
        keyb = _bits(key, wordbits) if key else set()
        touch = 0x35 in absb or (0 in absb and 0x14A in keyb)  # ABS_MT_POSITION_X, or ABS_X + BTN_TOUCH
        out.append(InputDev(f"/dev/input/{ev}", name, touch))
    return out


def touch_result(ctx: Context, want: str | None = None, required: bool = True) -> Result:
    """The "touch screen" result: `want` is the configured device path (None: any touch device);
    not `required` (e.g. a feedback terminal with physical buttons) makes a missing one a warning."""
    name = "touch screen"
    if ctx.root is not None:
        return Result(name, SKIP, "input devices are the device's, not checked with --root")
    devs = ctx.sources.input_devices()
    fail = FAIL if required else WARN
    hint = ("plug in the touch panel's USB cable (an HDMI screen carries touch over USB) and check "
            "ls /dev/input/by-id/; the app's user needs the input group")
    if devs is None:
        return Result(name, fail, "no input devices at all (/proc/bus/input/devices is missing)", hint)
    touch = [x for x in devs if x.touch]
    if want:
        hit = next((x for x in devs if x.path == want or Path(want).resolve() == Path(x.path)), None)
        if hit is None:
            return Result(name, fail, f"the configured touch device {want} is not present", hint)
        if not hit.touch:
            return Result(name, fail, f"{want} ({hit.name}) is not a touch device",
                          "set [kiosk] input to the touch screen's device")
        return Result(name, OK, f"{hit.name} at {hit.path}")
    if not touch:
        return Result(name, fail, f"no touch device among {len(devs)} input devices", hint)
    return Result(name, OK, "; ".join(f"{x.name} at {x.path}" for x in touch))


def screens(drm: str = "/sys/class/drm") -> list[Screen] | None:
    """Connectors from /sys/class/drm (works without X), else xrandr on $DISPLAY; None: unknown."""
    base = Path(drm)
    found: list[Screen] = []
    if base.is_dir():
        for con in sorted(base.glob("card*-*")):
            try:
                status = (con / "status").read_text().strip()
            except OSError:
                continue
            mode = None
            try:
                modes = (con / "modes").read_text().split()
                mode = modes[0] if modes else None
            except OSError:
                pass
            found.append(Screen(con.name.split("-", 1)[1], status == "connected", mode))
        if found:
            return found
    if os.environ.get("DISPLAY"):
        out = ask(["xrandr", "--current"])
        if out:
            cur = None
            for line in out.splitlines():
                m = re.match(r"^(\S+) (connected|disconnected)", line)
                if m:
                    cur = Screen(m[1], m[2] == "connected")
                    found.append(cur)
                elif cur is not None and "*" in line:
                    mm = re.match(r"\s+(\d+x\d+)", line)
                    if mm:
                        found[-1] = dataclasses.replace(found[-1], mode=mm[1])
            return found or None
    return None


def consoleblank() -> int | None:
    try:
        return int(Path("/sys/module/kernel/parameters/consoleblank").read_text().strip())
    except (OSError, ValueError):
        return None


def check_screen(ctx: Context) -> Result:
    name = "screen"
    if ctx.root is not None:
        return Result(name, SKIP, "the screen is the device's, not checked with --root")
    found = ctx.sources.screens()
    if found is None:
        return Result(name, WARN, "unknown (no /sys/class/drm connectors and no X display to ask)",
                      "look at the screen; on a Pi: ls /sys/class/drm")
    on = [s for s in found if s.connected]
    if not on:
        return Result(name, FAIL, "no screen connected (" + ", ".join(f"{s.connector}: disconnected" for s in found)
                      + ")", "the HDMI cable and the screen's power and input; on a Pi 4/5 use the HDMI port next "
                             "to the power socket (HDMI 0)")
    parts = [f"{s.connector} {s.mode or 'mode unknown'}" for s in on]
    small = [s for s in on if s.mode and _small(s.mode)]
    if small:
        return Result(name, WARN, "; ".join(parts) + f" (smaller than {MIN_SCREEN[0]}x{MIN_SCREEN[1]})",
                      "large type needs a large screen: check the screen's native resolution")
    return Result(name, OK, "; ".join(parts))


def _small(mode: str) -> bool:
    m = re.match(r"(\d+)x(\d+)", mode)
    if not m:
        return False
    w, h = sorted((int(m[1]), int(m[2])), reverse=True)
    return w < MIN_SCREEN[0] or h < MIN_SCREEN[1]


def check_blanking(ctx: Context) -> Result:
    name = "screen blanking"
    if ctx.root is not None:
        return Result(name, SKIP, "kernel settings are the device's, not checked with --root")
    v = ctx.sources.consoleblank()
    if v is None:
        return Result(name, SKIP, "unknown (/sys/module/kernel/parameters/consoleblank not readable)")
    if v == 0:
        return Result(name, OK, "the console never blanks (consoleblank=0)")
    return Result(name, WARN, f"the console blanks the screen after {v} s without keyboard input",
                  "add consoleblank=0 to the kernel command line (/boot/firmware/cmdline.txt) and reboot")


SCREEN = Check("screen", check_screen)
BLANKING = Check("screen blanking", check_blanking)


def check_scripts(ctx: Context) -> Result:
    """The languages the site offers can be drawn: Arabic script needs Pillow's raqm (the Debian
    package libfribidi0) and Noto Sans Arabic, Chinese a Chinese font (uikit.textrender)."""
    from PIL import features

    from core.i18n import is_rtl
    from runtime import fonts

    name = "every script on screen"
    if ctx.site is None:
        return Result(name, SKIP, "no site configuration to say which languages are offered")
    needs = [lang for lang in ctx.site.languages if is_rtl(lang) or lang == "zh"]
    if not needs:
        return Result(name, OK, "only languages the default font has")
    lacking = list(fonts.missing_fonts())
    if any(is_rtl(lang) for lang in needs) and not features.check("raqm"):
        lacking.insert(0, "text shaping (Pillow's raqm needs the Debian package libfribidi0)")
    if lacking:
        return Result(name, WARN, f"{', '.join(needs)} would not show right: lacking " + ", ".join(lacking),
                      "make install (or apt-get install the packages named)")
    return Result(name, OK, f"shaping and fonts for {', '.join(needs)}")


SCRIPTS = Check("every script on screen", check_scripts)
