"""What the Kivy apps share: theme (contrast, sizes), speech, idle handling, screenshots, the one
app start-up path (launch.py), the technician overlay (its data handed in) and the screen checks.

Imports Kivy only where a module needs it (speech, idle logic and launch's planning are plain
Python), so the pure parts are tested without a window.
"""
