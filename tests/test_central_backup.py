"""`palvelupiste central backup` / `restore` on the real PostgreSQL cluster of the run
(tests/conftest.py `postgres`): events stored through the central store, backed up with pg_dump,
restored with pg_restore into a fresh database — every row the same; restoring over a database that
holds tables is refused unless --force, which leaves exactly the backup's rows."""
from __future__ import annotations

import stat
from pathlib import Path

import psycopg
import pytest

from central.backup import BackupError, backup_tables
from central.store import CentralStore
from core.events import Event, new_event_id, now_ms
from runtime.pgbin import pg_bindir, pg_program
from tests.support.broker import free_port
from tests.test_provision import run_cli

T0 = now_ms() - 86_400_000


def events(site: str, device: str, seqs: range) -> list[Event]:
    return [Event(new_event_id(), site, device, seq, "feedback.given", T0 + seq * 1000,
                  {"rating": 1 + seq % 5, "scale": 5}) for seq in seqs]


def store(dsn: str, evs: list[Event]) -> None:
    with CentralStore(dsn) as db:
        db.begin()
        db.insert_events(evs)
        for site, device in {(e.site, e.device) for e in evs}:
            db.advance_watermark(site, device)
        db.commit()


def rows(dsn: str) -> dict[str, list[tuple]]:
    """Every row of every table of the database, in a stable order."""
    with psycopg.connect(dsn) as conn:
        tables = [t for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}


@pytest.fixture
def filled(postgres):
    dsn = postgres.fresh_database()
    store(dsn, events("site-a", "kiosk-1", range(1, 41)) + events("site-b", "feedback-1", range(1, 26)))
    return dsn


def test_backup_and_restore_into_a_fresh_database_give_the_same_rows(postgres, filled, tmp_path):
    out = tmp_path / "central.dump"
    rc, msg, err = run_cli("central", "backup", "--db", filled, "--out", str(out))
    assert rc == 0 and "backed up to" in msg, err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["central.dump"]        # no half-written file beside it
    assert {"events", "watermarks", "settings"} <= set(backup_tables(out))
    target = postgres.fresh_database()
    rc, msg, err = run_cli("central", "restore", "--db", target, str(out))
    assert rc == 0 and "restored" in msg, err
    before, after = rows(filled), rows(target)
    assert len(before["events"]) == 65 and len(before["watermarks"]) == 2 and len(before["feedback_responses"]) == 65
    assert after == before
    # the restored database works on: the store takes the next events as new, the old ones as duplicates
    with CentralStore(target) as db:
        db.begin()
        assert db.insert_events(events("site-a", "kiosk-1", range(41, 43))) == 2
        assert db.insert_events(events("site-a", "kiosk-1", range(1, 3))) == 0
        assert db.advance_watermark("site-a", "kiosk-1") == 42
        db.commit()


def test_restoring_over_a_database_with_tables_needs_force(postgres, filled, tmp_path):
    out = tmp_path / "central.dump"
    assert run_cli("central", "backup", "--db", filled, "--out", str(out))[0] == 0
    backed_up = rows(filled)
    # after the backup, more events arrive
    store(filled, events("site-a", "kiosk-1", range(41, 51)))
    grown = rows(filled)
    assert len(grown["events"]) == 75
    rc, _, err = run_cli("central", "restore", "--db", filled, str(out))
    assert rc == 2 and "the database is not empty" in err and "--force" in err, err
    assert rows(filled) == grown                                            # nothing was changed
    rc, msg, err = run_cli("central", "restore", "--db", filled, str(out), "--force")
    assert rc == 0 and "replaced: --force" in msg, err
    assert rows(filled) == backed_up                                        # exactly the backup's rows


def test_what_cannot_be_done_is_said_and_changes_nothing(postgres, filled, tmp_path):
    # not a backup
    junk = tmp_path / "junk.dump"
    junk.write_text("not a dump\n")
    target = postgres.fresh_database()
    rc, _, err = run_cli("central", "restore", "--db", target, str(junk))
    assert rc == 2 and "not a backup made by `palvelupiste central backup`" in err
    rc, _, err = run_cli("central", "restore", "--db", target, str(tmp_path / "missing.dump"))
    assert rc == 2 and "cannot read" in err
    # a server that does not answer: no backup file at all, not half of one
    dead = f"host=127.0.0.1 port={free_port()} user=pp dbname=postgres"
    out = tmp_path / "out" / "central.dump"
    out.parent.mkdir()
    rc, _, err = run_cli("central", "backup", "--db", dead, "--out", str(out))
    assert rc == 1 and "pg_dump failed" in err and "no backup was written" in err
    assert list(out.parent.iterdir()) == []
    rc, _, err = run_cli("central", "backup", "--db", filled, "--out", str(tmp_path / "nowhere" / "x.dump"))
    assert rc == 2 and "no folder" in err
    # a restore that fails half-way changes nothing: one transaction (a table in the way that the
    # backup's views depend on is not there; here: restoring into a database where events is a view)
    good = tmp_path / "good.dump"
    assert run_cli("central", "backup", "--db", filled, "--out", str(good))[0] == 0
    blocked = postgres.fresh_database()
    with psycopg.connect(blocked, autocommit=True) as conn:
        conn.execute("CREATE TABLE keep_me (x int)")
        conn.execute("INSERT INTO keep_me VALUES (1)")
        conn.execute("CREATE VIEW events AS SELECT x FROM keep_me")
    rc, _, err = run_cli("central", "restore", "--db", blocked, str(good), "--force")
    assert rc == 1 and "pg_restore failed, nothing was changed" in err, err
    with psycopg.connect(blocked) as conn:
        assert conn.execute("SELECT x FROM events").fetchall() == [(1,)]
        assert conn.execute("SELECT to_regclass('watermarks')").fetchone() == (None,)
    with pytest.raises(BackupError):
        backup_tables(junk)


def test_the_binaries_are_debians_newest():
    d = pg_bindir("pg_dump")
    assert d is not None and (d / "pg_dump").is_file() and (d / "pg_restore").is_file()
    assert pg_program("pg_restore") == d / "pg_restore"
    from sim.postgres import bindir

    assert bindir() == pg_bindir("initdb")
    assert pg_program("no-such-program-here") is None
    assert isinstance(d, Path)
