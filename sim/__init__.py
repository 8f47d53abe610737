"""Simulation: the pty printer emulator, the ESC/POS decoder and renderer, fake smiley buttons,
the demo's app launcher and drivers, the simulated crowd and day. Only the demo, the benchmarks
and the tests import it; no production module does (tests/test_layers.py)."""
