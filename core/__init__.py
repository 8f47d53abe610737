"""Shared library of palvelupiste: no UI, no network, nothing of the rest of the project."""
