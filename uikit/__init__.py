"""What the Kivy apps share: theme (contrast, sizes), speech, idle handling, screenshots.

Imports Kivy only where a module needs it (speech and idle logic are plain Python), so the
pure parts are tested without a window.
"""
