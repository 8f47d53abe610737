"""Small pure parts of the sync agent: its [sync] options, the status message, the printer file."""
import json

import pytest

from core.config import ConfigError
from runtime import status as st
from sync.agent import SyncOptions


def test_sync_options_from_the_device_toml():
    o = SyncOptions.from_section({"window": 3, "ack_timeout_s": 2, "keep_days": 7})
    assert (o.window, o.ack_timeout_s, o.keep_days, o.batch_events) == (3, 2, 7, 200)
    for bad, field in (({"window": 2.5}, "sync.window"), ({"nope": 1}, "sync.nope"), ({"poll_s": 0}, "sync.poll_s"),
                       ({"keep_days": True}, "sync.keep_days"), ({"batch_bytes": 1000}, "sync.batch_bytes")):
        with pytest.raises(ConfigError) as e:
            SyncOptions.from_section(bad)
        assert e.value.issues[0].field == field


def test_status_message(tmp_path):
    (tmp_path / "printer-status.json").write_text(json.dumps({"paper": "out", "can_print": False}))
    s = st.build_status(site="s", device="d", role="kiosk", version="1", last_seq=10, acked_seq=4,
                        oldest_unacked_ts=1_000, last_sync_ms=None, disk_free=st.disk_free_bytes(tmp_path),
                        printer=st.read_printer_status(tmp_path), sync={"puback_failures": 0}, connected=False,
                        now_ms=61_000)
    assert s["backlog"] == 6 and s["oldest_unsynced_age_s"] == 60.0 and s["printer"]["paper"] == "out"
    assert s["printer"]["age_s"] >= 0 and s["disk_free_bytes"] > 0
    assert json.loads(st.status_json(s)) == s
    st.write_local_status(tmp_path, s)
    assert st.read_local_status(tmp_path) == s


def test_printer_status_file_problems_are_reported_not_raised(tmp_path):
    assert st.read_printer_status(tmp_path) is None
    (tmp_path / "printer-status.json").write_text("{broken")
    assert "cannot read" in st.read_printer_status(tmp_path)["error"]
    (tmp_path / "printer-status.json").write_text("[1]")
    assert "not a JSON object" in st.read_printer_status(tmp_path)["error"]
    (tmp_path / "printer-status.json").write_text(json.dumps({"x": "y" * 5000}))
    assert "larger" in st.read_printer_status(tmp_path)["error"]
    assert st.software_version()
