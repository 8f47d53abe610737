"""`palvelupiste central export`: the analysts' views of one month as files, one per view
(`<view>-<month>.csv` or `.parquet`), with the same rows and the same small-cell rule as the
views themselves (they are read from them). A withheld figure is an empty cell (CSV) or a null
(Parquet), and the row's `withheld` column names it; never a zero.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import psycopg

from runtime.files import atomic_write

from .monthly import rows
from .views import VIEWS

FORMATS = ("csv", "parquet")


def month_rows(conn: psycopg.Connection, view: str, month: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The view's columns and its rows of `month` (the daily views: the month's days)."""
    cur = conn.execute(f"SELECT * FROM {view} LIMIT 0")
    names = [c.name for c in cur.description or ()]
    if "month" in names:
        got = rows(conn, view, [("month", month)])
    else:
        got = [r for r in rows(conn, view) if str(r["day"]).startswith(month)]
    return names, got


def _csv(names: list[str], data: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(names)
    for r in data:
        w.writerow(["" if r[n] is None else ";".join(r[n]) if isinstance(r[n], list) else r[n] for n in names])
    return buf.getvalue().encode("utf-8")


def _parquet(names: list[str], data: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {}
    for n in names:
        values = [r[n] for r in data]
        if any(isinstance(v, list) for v in values):  # `withheld` of the monthly views: the figures' names
            columns[n] = pa.array(values, type=pa.list_(pa.string()))
        elif any(isinstance(v, float) for v in values):
            columns[n] = pa.array([None if v is None else float(v) for v in values], type=pa.float64())
        elif n in ("day",):
            columns[n] = pa.array(values, type=pa.date32())
        else:
            columns[n] = pa.array(values)
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(columns), sink)
    return bytes(sink.getvalue().to_pybytes())


def export(conn: psycopg.Connection, month: str, fmt: str, out_dir: str | Path) -> list[Path]:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for view in VIEWS:
        names, data = month_rows(conn, view, month)
        body = _csv(names, data) if fmt == "csv" else _parquet(names, data)
        written.append(atomic_write(out / f"{view}-{month}.{fmt}", body))
    return written
