"""The doctor's kiosk check: the touch screen the kiosk reads is there (the one its `input`
setting names, else any touch device). The printer is printer/checks.py's."""
from __future__ import annotations

from runtime.checks import Check, Context, Result
from uikit.checks import touch_result


def check_touch(ctx: Context) -> Result:
    want = None
    if ctx.device is not None:
        setting = ctx.device.section("kiosk").get("input", "")
        # "hidinput:/dev/input/event3" names its device; "mouse" or "mtdev" take whatever is there
        if isinstance(setting, str) and ":" in setting:
            want = setting.split(":", 1)[1]
    return touch_result(ctx, want)


TOUCH = Check("touch screen", check_touch)
