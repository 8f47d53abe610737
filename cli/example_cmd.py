"""palvelupiste example-site [--path] — the example site configuration that ships with the package.

A starting point for a site's own file (`palvelupiste example-site > site.toml`), and a file that
is always there to check an installation against, wherever pip put it:
`palvelupiste check-config "$(palvelupiste example-site --path)"`.
"""
from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("example-site", help="print the packaged example site configuration (or its --path)")
    p.add_argument("--path", action="store_true", help="print where the file is instead of its text")
    p.set_defaults(func=run)


def run(args) -> int:
    from core.resources import example_site

    site = example_site()
    if args.path:
        print(site)
    else:
        sys.stdout.write(site.read_text(encoding="utf-8"))
    return 0
