"""The central database's tables, as versioned migrations: applied in order, each once
(schema_migrations records them). Never edit a released one: add the next.

The analysts' views and the functions they use hold no data; central/views.py recreates them
after the migrations on every start, so they always match the code.
"""
from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: events exactly once, watermarks, dead letters, refusals, devices and their status
    """
    CREATE TABLE events (
        site text NOT NULL, device text NOT NULL, seq bigint NOT NULL, id text NOT NULL,
        type text NOT NULL, ts bigint NOT NULL, data text NOT NULL, v integer NOT NULL,
        received_ms bigint NOT NULL, PRIMARY KEY (site, device, seq));
    CREATE INDEX events_site_type_ts ON events (site, type, ts);
    CREATE INDEX events_id ON events (id);
    CREATE TABLE watermarks (site text NOT NULL, device text NOT NULL, seq bigint NOT NULL,
        updated_ms bigint NOT NULL, PRIMARY KEY (site, device));
    CREATE TABLE dead_letter (id bigserial PRIMARY KEY, digest text NOT NULL UNIQUE, first_ms bigint NOT NULL,
        last_ms bigint NOT NULL, count bigint NOT NULL, topic text NOT NULL, site text, device text, seq bigint,
        reason text NOT NULL, payload text NOT NULL, payload_bytes integer NOT NULL);
    CREATE TABLE refused (site text NOT NULL, device text NOT NULL, seq bigint NOT NULL, id text,
        received_ms bigint NOT NULL, PRIMARY KEY (site, device, seq));
    CREATE TABLE devices (site text NOT NULL, device text NOT NULL, role text NOT NULL,
        updated_ms bigint NOT NULL, PRIMARY KEY (site, device));
    CREATE TABLE device_status (site text NOT NULL, device text NOT NULL, status text, status_ms bigint,
        availability text, availability_ms bigint, PRIMARY KEY (site, device));
    """,
    # 2: the roll-ups (core/rollup.py says what each holds), the sites' configurations, settings
    """
    CREATE TABLE settings (key text PRIMARY KEY, value text NOT NULL);
    INSERT INTO settings(key, value) VALUES ('small_cell', '5');
    CREATE TABLE sites (site text PRIMARY KEY, region text, municipality text, timezone text NOT NULL,
        config text NOT NULL, updated_ms bigint NOT NULL);
    CREATE TABLE site_services (site text NOT NULL, service text NOT NULL, authority text NOT NULL,
        target_wait_min double precision NOT NULL, PRIMARY KEY (site, service));
    CREATE TABLE rollup_keys (site text NOT NULL, service text NOT NULL, PRIMARY KEY (site, service));
    CREATE TABLE rollup_hours (site text NOT NULL, service text NOT NULL, day date NOT NULL,
        hour smallint NOT NULL, month text NOT NULL,
        issued bigint NOT NULL, walk_in bigint NOT NULL, appointment bigint NOT NULL, waits bigint NOT NULL,
        wait_sum_ms bigint NOT NULL, within_target bigint NOT NULL, judged bigint NOT NULL,
        served bigint NOT NULL, service_sum_ms bigint NOT NULL, no_show bigint NOT NULL,
        cancelled bigint NOT NULL, transferred bigint NOT NULL, printer_faults bigint NOT NULL,
        PRIMARY KEY (site, day, service, hour));
    CREATE INDEX rollup_hours_month ON rollup_hours (month);
    CREATE TABLE rollup_hist (site text NOT NULL, service text NOT NULL, month text NOT NULL,
        metric text NOT NULL, bin smallint NOT NULL, n bigint NOT NULL,
        PRIMARY KEY (month, site, service, metric, bin));
    CREATE TABLE rollup_outcomes (site text NOT NULL, service text NOT NULL, day date NOT NULL,
        month text NOT NULL, outcome text NOT NULL, n bigint NOT NULL, PRIMARY KEY (site, day, service, outcome));
    CREATE INDEX rollup_outcomes_month ON rollup_outcomes (month);
    CREATE TABLE rollup_transfers (site text NOT NULL, from_service text NOT NULL, to_service text NOT NULL,
        day date NOT NULL, month text NOT NULL, n bigint NOT NULL,
        PRIMARY KEY (site, day, from_service, to_service));
    CREATE INDEX rollup_transfers_month ON rollup_transfers (month);
    CREATE TABLE rollup_days (site text NOT NULL, day date NOT NULL, month text NOT NULL, open_s integer,
        PRIMARY KEY (site, day));
    CREATE INDEX rollup_days_month ON rollup_days (month);
    CREATE TABLE first_calls (site text NOT NULL, ticket text NOT NULL, service text NOT NULL,
        PRIMARY KEY (site, ticket, service));
    CREATE TABLE feedback_responses (site text NOT NULL, response text NOT NULL, rev bigint NOT NULL,
        device text NOT NULL, seq bigint NOT NULL, service text NOT NULL, day date NOT NULL,
        month text NOT NULL, hour smallint NOT NULL, rating smallint, scale smallint, sentiment text,
        outcome text, self_service text, flagged boolean NOT NULL, PRIMARY KEY (site, response));
    CREATE INDEX feedback_responses_month ON feedback_responses (month);
    CREATE INDEX events_site_ts ON events (site, ts);
    """,
    # 3: the fleet's history (availability changes; a backlog sample per device at most every
    # 5 minutes), the web service's accounts, sessions and login failures, the alerts sent
    """
    CREATE TABLE availability_log (site text NOT NULL, device text NOT NULL, ms bigint NOT NULL,
        state text NOT NULL, PRIMARY KEY (site, device, ms));
    CREATE TABLE status_samples (site text NOT NULL, device text NOT NULL, ms bigint NOT NULL,
        backlog bigint NOT NULL, PRIMARY KEY (site, device, ms));
    CREATE TABLE users (name text PRIMARY KEY, role text NOT NULL
        CHECK (role IN ('national', 'regional', 'site', 'technician')),
        scope text, pw_hash text NOT NULL, created_ms bigint NOT NULL, pw_changed_ms bigint NOT NULL);
    CREATE TABLE web_sessions (token_hash text PRIMARY KEY,
        name text NOT NULL REFERENCES users(name) ON DELETE CASCADE ON UPDATE CASCADE,
        csrf text NOT NULL, created_ms bigint NOT NULL, seen_ms bigint NOT NULL);
    CREATE TABLE login_failures (key text NOT NULL, ms bigint NOT NULL);
    CREATE INDEX login_failures_key_ms ON login_failures (key, ms);
    CREATE TABLE alerts (key text PRIMARY KEY, kind text NOT NULL, site text NOT NULL, device text,
        detail text NOT NULL, first_ms bigint NOT NULL, last_ms bigint NOT NULL, cleared_ms bigint,
        sent_ms bigint);
    """,
    # 4: the month's sums per (site, service), so that a national month's figures read about a
    # thousand rows instead of every hour and every feedback response of the month. rollup_month
    # is added to by the ingest beside rollup_hours. feedback_month follows feedback_responses
    # through statement triggers: their transition tables hold exactly the rows inserted, replaced
    # or deleted, also when two workers write the same response at once. A row whose responses
    # are all gone (n = 0) is deleted, so the table holds what a rebuild would make.
    """
    CREATE TABLE rollup_month (site text NOT NULL, service text NOT NULL, month text NOT NULL,
        issued bigint NOT NULL, walk_in bigint NOT NULL, appointment bigint NOT NULL, waits bigint NOT NULL,
        wait_sum_ms bigint NOT NULL, within_target bigint NOT NULL, judged bigint NOT NULL,
        served bigint NOT NULL, service_sum_ms bigint NOT NULL, no_show bigint NOT NULL,
        cancelled bigint NOT NULL, transferred bigint NOT NULL, printer_faults bigint NOT NULL,
        PRIMARY KEY (month, site, service));
    INSERT INTO rollup_month SELECT site, service, month, sum(issued), sum(walk_in), sum(appointment),
        sum(waits), sum(wait_sum_ms), sum(within_target), sum(judged), sum(served), sum(service_sum_ms),
        sum(no_show), sum(cancelled), sum(transferred), sum(printer_faults)
        FROM rollup_hours GROUP BY site, service, month;
    CREATE TABLE feedback_month (site text NOT NULL, service text NOT NULL, month text NOT NULL,
        n bigint NOT NULL, responses bigint NOT NULL, score_n bigint NOT NULL, score_sum numeric NOT NULL,
        positive bigint NOT NULL, neutral bigint NOT NULL, negative bigint NOT NULL,
        matter_n bigint NOT NULL, done bigint NOT NULL, started bigint NOT NULL, not_done bigint NOT NULL,
        self_service_n bigint NOT NULL, self_service_yes bigint NOT NULL, self_service_no bigint NOT NULL,
        flagged bigint NOT NULL, PRIMARY KEY (month, site, service));
    -- TG_ARGV[0]: the changed rows, each with its sign (+1 added, -1 taken away).
    CREATE FUNCTION pp_feedback_month() RETURNS trigger LANGUAGE plpgsql AS $f$
    DECLARE r record;
    BEGIN
      FOR r IN EXECUTE format($q$
        WITH d AS (
          SELECT r.site, r.service, r.month, sum(sg) AS n,
                 sum(sg * (r.rating IS NOT NULL)::int) AS responses,
                 sum(sg * (r.rating IS NOT NULL AND r.scale IS NOT NULL)::int) AS score_n,
                 sum(sg * coalesce(1 + (r.rating - 1) * 4.0 / (r.scale - 1), 0)) AS score_sum,
                 sum(sg * (r.sentiment IS NOT DISTINCT FROM 'positive')::int) AS positive,
                 sum(sg * (r.sentiment IS NOT DISTINCT FROM 'neutral')::int) AS neutral,
                 sum(sg * (r.sentiment IS NOT DISTINCT FROM 'negative')::int) AS negative,
                 sum(sg * (r.outcome IS NOT NULL)::int) AS matter_n,
                 sum(sg * (r.outcome IS NOT DISTINCT FROM 'done')::int) AS done,
                 sum(sg * (r.outcome IS NOT DISTINCT FROM 'started')::int) AS started,
                 sum(sg * (r.outcome IS NOT DISTINCT FROM 'not_done')::int) AS not_done,
                 sum(sg * (r.self_service IS NOT NULL)::int) AS self_service_n,
                 sum(sg * (r.self_service IS NOT DISTINCT FROM 'yes')::int) AS self_service_yes,
                 sum(sg * (r.self_service IS NOT DISTINCT FROM 'no')::int) AS self_service_no,
                 sum(sg * r.flagged::int) AS flagged
          FROM (%s) r GROUP BY r.site, r.service, r.month)
        INSERT INTO feedback_month AS m SELECT * FROM d ORDER BY month, site, service
          ON CONFLICT (month, site, service) DO UPDATE SET n = m.n + excluded.n,
            responses = m.responses + excluded.responses, score_n = m.score_n + excluded.score_n,
            score_sum = m.score_sum + excluded.score_sum, positive = m.positive + excluded.positive,
            neutral = m.neutral + excluded.neutral, negative = m.negative + excluded.negative,
            matter_n = m.matter_n + excluded.matter_n, done = m.done + excluded.done,
            started = m.started + excluded.started, not_done = m.not_done + excluded.not_done,
            self_service_n = m.self_service_n + excluded.self_service_n,
            self_service_yes = m.self_service_yes + excluded.self_service_yes,
            self_service_no = m.self_service_no + excluded.self_service_no, flagged = m.flagged + excluded.flagged
        RETURNING m.month, m.site, m.service, m.n
      $q$, TG_ARGV[0]) LOOP
        IF r.n = 0 THEN
          DELETE FROM feedback_month WHERE month = r.month AND site = r.site AND service = r.service;
        END IF;
      END LOOP;
      RETURN NULL;
    END $f$;
    -- The responses already stored go through the insert trigger once (taken out, put back).
    CREATE TEMPORARY TABLE pp_responses ON COMMIT DROP AS SELECT * FROM feedback_responses;
    DELETE FROM feedback_responses;
    CREATE TRIGGER feedback_month_insert AFTER INSERT ON feedback_responses
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
        EXECUTE FUNCTION pp_feedback_month('SELECT 1 AS sg, * FROM new_rows');
    CREATE TRIGGER feedback_month_update AFTER UPDATE ON feedback_responses
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
        EXECUTE FUNCTION pp_feedback_month('SELECT 1 AS sg, * FROM new_rows UNION ALL SELECT -1, * FROM old_rows');
    CREATE TRIGGER feedback_month_delete AFTER DELETE ON feedback_responses
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
        EXECUTE FUNCTION pp_feedback_month('SELECT -1 AS sg, * FROM old_rows');
    INSERT INTO feedback_responses SELECT * FROM pp_responses;
    """,
    # 5: a change counter per (month, site): every transaction that adds to a site's roll-ups of a
    # month adds 1 (rollups._write, and the feedback trigger for the months it moves responses
    # between), so the sum over a set of months changes exactly when their figures may have:
    # what the web service's figure cache (central/figcache.py) checks before reusing a report.
    """
    CREATE TABLE rollup_stamps (month text NOT NULL, site text NOT NULL, version bigint NOT NULL,
        PRIMARY KEY (month, site));
    INSERT INTO rollup_stamps SELECT month, site, 1 FROM rollup_month GROUP BY month, site
        UNION SELECT month, site, 1 FROM feedback_month GROUP BY month, site
        ON CONFLICT DO NOTHING;
    CREATE FUNCTION pp_feedback_stamps() RETURNS trigger LANGUAGE plpgsql AS $f$
    BEGIN
      EXECUTE format($q$
        INSERT INTO rollup_stamps AS s (month, site, version)
        SELECT DISTINCT r.month, r.site, 1 FROM (%s) r ORDER BY 1, 2
        ON CONFLICT (month, site) DO UPDATE SET version = s.version + 1
      $q$, TG_ARGV[0]);
      RETURN NULL;
    END $f$;
    CREATE TRIGGER feedback_stamps_update AFTER UPDATE ON feedback_responses
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
        EXECUTE FUNCTION pp_feedback_stamps('SELECT month, site FROM new_rows UNION SELECT month, site FROM old_rows');
    CREATE TRIGGER feedback_stamps_delete AFTER DELETE ON feedback_responses
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
        EXECUTE FUNCTION pp_feedback_stamps('SELECT month, site FROM old_rows');
    """,
    # 6: booking feeds (issue 17): each site's key for booking references, the bookings of each
    # feed as last imported (references only: no code, no text of the feed), the changes sent to
    # each site in order, and each feed's import health for the fleet view
    """
    CREATE TABLE site_keys (site text PRIMARY KEY, key bytea NOT NULL, created_ms bigint NOT NULL);
    CREATE TABLE bookings (
        feed text NOT NULL, key text NOT NULL, site text NOT NULL, ref text NOT NULL,
        service text NOT NULL, start_ms bigint NOT NULL, duration_min integer NOT NULL,
        room text, needs jsonb NOT NULL DEFAULT '{}', cancelled boolean NOT NULL DEFAULT false,
        PRIMARY KEY (feed, key));
    CREATE TABLE booking_changes (
        site text NOT NULL, seq bigint NOT NULL, feed text NOT NULL, body jsonb NOT NULL,
        created_ms bigint NOT NULL, PRIMARY KEY (site, seq));
    CREATE TABLE booking_feeds (
        feed text PRIMARY KEY, site text NOT NULL, last_attempt_ms bigint, last_ok_ms bigint,
        imported integer NOT NULL DEFAULT 0, skipped integer NOT NULL DEFAULT 0,
        error text, failing_since_ms bigint, etag text);
    """,
)
