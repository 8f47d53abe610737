"""palvelupiste check-config FILE"""
from __future__ import annotations



def register(sub) -> None:
    p = sub.add_parser("check-config", help="validate a site (or --device) configuration file",
                       description="Exits 0 when the file is valid, 2 when it is not, naming each problem.")
    p.add_argument("file")
    p.add_argument("--device", action="store_true", help="the file is a device configuration")
    p.set_defaults(func=run)


def run(args) -> int:
    from core.config import load_device, load_site

    if args.device:
        d = load_device(args.file)
        print(f"{args.file}: ok — device {d.id}, role {d.role}, site {d.site}")
    else:
        s = load_site(args.file)
        print(f"{args.file}: ok — site {s.id}, {len(s.services)} services, {len(s.counters)} counters")
    return 0
