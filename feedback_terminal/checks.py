"""The doctor's feedback terminal checks: the physical smiley buttons (when [feedback.buttons]
configures a box) are there, and the touch screen, which is a must only without buttons."""
from __future__ import annotations

from typing import Any

from runtime.checks import FAIL, OK, SKIP, Check, Context, Result
from uikit.checks import touch_result


def button_source(cfg: Any) -> Any:
    """The real evdev source of the configured button box (opened only by its `open()`)."""
    from .button_source import EvdevSource

    return EvdevSource(cfg)


def check_buttons(ctx: Context) -> Result | None:
    """None: no button box configured (nothing to judge)."""
    name = "buttons"
    d = ctx.device
    sec = d.section("feedback").get("buttons") if d is not None else None
    if not isinstance(sec, dict):
        return None
    if ctx.root is not None:
        return Result(name, SKIP, "input devices are the device's, not checked with --root")
    try:
        from .buttons import ButtonConfig

        cfg = ButtonConfig.from_dict(sec)
    except ImportError as exc:
        return Result(name, SKIP, f"cannot check: {exc}")
    except ValueError as exc:
        return Result(name, FAIL, str(exc), "fix [feedback.buttons] in the device configuration")
    try:
        source = ctx.sources.button_source(cfg)
        dev, label = source.open()
        try:
            dev.close()
        except OSError:
            pass
    except (OSError, LookupError) as exc:
        return Result(name, FAIL, f"button box not found: {exc}",
                      "check the button box's USB cable and ls -l /dev/input/by-id/; device_path or device_name in "
                      "[feedback.buttons]; the app's user needs the input group")
    return Result(name, OK, label)


def check_touch(ctx: Context) -> Result:
    # with a button box (even a broken one: it is reported on its own) a touch screen is optional
    return touch_result(ctx, required=ctx.result("buttons") is None)


BUTTONS = Check("buttons", check_buttons)
TOUCH = Check("touch screen", check_touch)
