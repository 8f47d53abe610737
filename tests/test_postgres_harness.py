"""The tests' own PostgreSQL (tests/support/postgres.py), the ground the central store stands on
(issue 13): a cluster of its own in a temporary directory on a free port, owned by an
unprivileged user when the tests run as root, reached with psycopg 3, and gone when stopped."""
from __future__ import annotations

import os
import pwd

import psycopg
import pytest

from sim.postgres import RUN_AS, PostgresCluster


@pytest.fixture(scope="module")
def pg():
    with PostgresCluster() as cluster:
        yield cluster


def test_a_cluster_of_its_own_answers_psycopg_and_keeps_what_is_committed(pg):
    dsn = pg.create_database("central_smoke")
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE events (site text, device text, seq bigint, PRIMARY KEY (site, device, seq))")
        conn.execute("INSERT INTO events VALUES ('s', 'd', 1), ('s', 'd', 2)")
        # Exactly once: a repeat of a stored event changes nothing.
        cur = conn.execute("INSERT INTO events VALUES ('s', 'd', 2) ON CONFLICT DO NOTHING")
        assert cur.rowcount == 0
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (2,)
        assert conn.execute("SHOW port").fetchone() == (str(pg.port),)


def test_it_runs_as_an_unprivileged_user_and_listens_on_loopback_only(pg):
    owner = pwd.getpwuid(os.stat(pg.data).st_uid).pw_name
    assert owner != "root" and (os.geteuid() != 0 or owner == RUN_AS)
    assert pg.psql("SHOW listen_addresses").strip() == "127.0.0.1"


def test_stopping_removes_the_cluster():
    cluster = PostgresCluster().start()
    root, port = cluster.root, cluster.port
    cluster.stop()
    assert not root.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"host=127.0.0.1 port={port} user=pp dbname=postgres", connect_timeout=2)
