"""palvelupiste central devices|backup|restore|setup-db — running the central host (issue 13)."""
from __future__ import annotations


def register(a) -> None:
    """Adds its actions to `palvelupiste central`'s sub-parsers `a`."""
