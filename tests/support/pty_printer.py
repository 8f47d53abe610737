"""The emulated printer lives in printer/emulator.py (the demo uses it too)."""
from sim.printer_emulator import PtyPrinter  # noqa: F401
