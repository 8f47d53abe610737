"""palvelupiste check-config [--device] FILE | --describe [SECTION]"""
from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("check-config", help="validate a site (or --device) configuration file",
                       description="Exits 0 when the file is valid, 2 when it is not, naming each problem. "
                                   "A device file is checked section by section against its role and, "
                                   "where a section names the site's parts, against its site file.")
    p.add_argument("file", nargs="?")
    p.add_argument("--device", action="store_true", help="the file is a device configuration")
    p.add_argument("--describe", nargs="?", const="", metavar="SECTION",
                   help="print the reference of every device section, of one, or of the site file (\"site\")")
    p.set_defaults(func=run, parser=p)


def run(args) -> int:
    if args.describe is not None:
        return _describe(args.describe)
    if not args.file:
        args.parser.error("give a FILE to check, or --describe")
    from core.config import load_site, read_toml

    if args.device:
        from pathlib import Path

        from appliance.sections import check_device_doc

        path = Path(args.file)
        result = check_device_doc(read_toml(path), str(path), base=path.parent)
        for note in result.notes:
            print(f"{args.file}: note: {note}", file=sys.stderr)
        result.raise_if_bad()
        d = result.device
        against = f"checked against site file {d.site_config}" if result.site is not None else "site file not read"
        print(f"{args.file}: ok — device {d.id}, role {d.role}, site {d.site}; "
              f"sections: {', '.join(result.sections) or 'none'}; {against}")
    else:
        s = load_site(args.file)
        print(f"{args.file}: ok — site {s.id}, {len(s.services)} services, {len(s.counters)} counters")
    return 0


def _describe(name: str) -> int:
    from appliance.sections import reference

    try:
        lines = reference(name)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0
