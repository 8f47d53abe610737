"""The emulated printer lives in printer/emulator.py (the demo uses it too)."""
from printer.emulator import PtyPrinter  # noqa: F401
