"""The device status message: what a technician (and the central report) sees of a device.

Published retained on pp/<site>/dev/<device>/status by the sync agent, and written to
`<data_dir>/sync-status.json` for local tools. Example:

    {"v": 1, "site": "example-pp", "device": "kiosk-1", "role": "kiosk", "version": "0.1.0",
     "ts": 1795437055123, "connected": true,
     "last_seq": 1200, "acked_seq": 1200, "backlog": 0,
     "last_sync_ms": 1795437054000, "oldest_unsynced_age_s": null,
     "disk_free_bytes": 81234567168,
     "printer": {"paper": "ok", ...} | null,
     "sync": {"published_batches": 7, "published_events": 1200, "pubacks_ok": 7,
              "puback_failures": 0, "last_puback_failure": null, "ack_timeouts": 0,
              "resent_batches": 0, "connects": 1},
     "site_config_sha256": "…" | null, "appointments_sha256": "…" | null, "appointments": 12 | null,
     "downwire_refused": 0}

The printer part is whatever the kiosk app (printer/) writes to `<data_dir>/printer-status.json`
(a JSON object), with `"age_s"` added so a stale file is visible.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from core import resources
from runtime.files import atomic_write

STATUS_VERSION = 1
PRINTER_STATUS_FILE = "printer-status.json"
FEEDBACK_STATUS_FILE = "feedback-status.json"
STATUS_FILE = "sync-status.json"
MAX_PRINTER_BYTES = 4096


def software_version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("palvelupiste")
        except PackageNotFoundError:
            pass
    except ImportError:  # pragma: no cover
        pass
    try:
        import tomllib

        root = resources.asset().parent  # a checkout: assets/ lies beside pyproject.toml
        return str(tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]) + "+src"
    except (OSError, KeyError, ValueError):
        return "unknown"


def read_app_status(data_dir: str | Path, filename: str) -> dict[str, Any] | None:
    """A small JSON status file an app keeps in its data dir (printer-status.json of the kiosk,
    feedback-status.json of the feedback terminal: buttons present, stuck keys), with its age;
    None if absent, {"error": ...} if it cannot be read."""
    path = Path(data_dir) / filename
    try:
        st = path.stat()
    except OSError:
        return None
    try:
        if st.st_size > MAX_PRINTER_BYTES:
            return {"error": f"{filename} larger than {MAX_PRINTER_BYTES} bytes"}
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"error": f"cannot read {filename}: {exc}"[:200]}
    if not isinstance(obj, dict):
        return {"error": f"{filename} is not a JSON object"}
    obj = dict(obj)
    obj["age_s"] = round(max(0.0, time.time() - st.st_mtime), 1)
    return obj


def read_printer_status(data_dir: str | Path) -> dict[str, Any] | None:
    """`<data_dir>/printer-status.json` if present; {"error": ...} if it cannot be read."""
    return read_app_status(data_dir, PRINTER_STATUS_FILE)


def disk_free_bytes(path: str | Path) -> int | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def build_status(*, site: str, device: str, role: str, version: str, last_seq: int, acked_seq: int,
                 oldest_unacked_ts: int | None, last_sync_ms: int | None, disk_free: int | None,
                 printer: dict[str, Any] | None, sync: dict[str, Any], connected: bool,
                 extra: dict[str, Any] | None = None, now_ms: int | None = None) -> dict[str, Any]:
    now = int(time.time() * 1000) if now_ms is None else now_ms
    out = {
        "v": STATUS_VERSION, "site": site, "device": device, "role": role, "version": version,
        "ts": now, "connected": connected,
        "last_seq": last_seq, "acked_seq": acked_seq, "backlog": max(0, last_seq - acked_seq),
        "last_sync_ms": last_sync_ms,
        "oldest_unsynced_age_s": round((now - oldest_unacked_ts) / 1000, 1) if oldest_unacked_ts else None,
        "disk_free_bytes": disk_free,
        "printer": printer,
        "sync": sync,
    }
    if extra:
        out.update(extra)
    return out


def status_json(status: dict[str, Any]) -> bytes:
    return json.dumps(status, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def read_local_status(data_dir: str | Path) -> dict[str, Any] | None:
    """The last status this device wrote locally (None if there is none or it is unreadable)."""
    try:
        obj = json.loads((Path(data_dir) / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def write_app_status(data_dir: str | Path, filename: str, data: bytes | dict[str, Any], *,
                     fsync: bool = False) -> Path:
    """Replace `<data_dir>/<filename>` (a device's small status file, read by read_app_status)
    atomically: a reader never sees half a file. Without fsync by default: these files are
    informative and rewritten every few seconds. Raises OSError; the half-written temp file is
    removed."""
    if isinstance(data, dict):
        data = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
    return atomic_write(Path(data_dir) / filename, data, fsync=fsync)


def write_local_status(data_dir: str | Path, status: dict[str, Any]) -> None:
    """The agent's own status (sync-status.json); a failure to write it is not an error."""
    try:
        write_app_status(data_dir, STATUS_FILE, status_json(status))
    except OSError:
        pass