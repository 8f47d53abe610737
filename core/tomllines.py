"""Where in a TOML file a configuration problem is: the line a field's path names.

The configuration checker names a problem by its field's path ("site.id",
"services[1] (kela).target_wait_min", "counters[0] (1).services"); a person fixing the file in
an editor wants its line. A syntax error names its line itself ("… (at line 7, column 3)").
Pure text work: the file need not parse.
"""
from __future__ import annotations

import re

_SEGMENT = re.compile(r"^(?P<name>[A-Za-z0-9_-]+)(?:\[(?P<index>\d+)\])?(?: \(.*?\))?$")
_AT_LINE = re.compile(r"at line (\d+)")


def _header(line: str) -> tuple[str, bool] | None:
    """(table name, is an array table) of a header line, else None."""
    s = line.strip()
    m = re.match(r"^\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]", s) or re.match(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]", s)
    if not m:
        return None
    return m.group(1), s.startswith("[[")


def line_of(text: str, field: str, message: str = "") -> int | None:
    """The 1-based line of `field` in `text` (its table's header when the key is missing), or
    the line a syntax error's `message` names; None when it cannot be placed."""
    at = _AT_LINE.search(message)
    if at:
        return int(at.group(1))
    parts = _split(field)
    if not parts:
        return None
    (table, index), rest = parts[0], parts[1:]
    lines = text.splitlines()
    start = None
    seen = -1
    for i, line in enumerate(lines):
        h = _header(line)
        if h is None or h[0] != table:
            continue
        if index is None and not h[1]:
            start = i
            break
        if index is not None and h[1]:
            seen += 1
            if seen == index:
                start = i
                break
    if start is None:
        return None
    if not rest:
        return start + 1
    key = rest[0][0]
    for j in range(start + 1, len(lines)):
        if _header(lines[j]) is not None:
            break
        if re.match(rf"^\s*{re.escape(key)}\s*=", lines[j]):
            return j + 1
    return start + 1


def _split(field: str) -> list[tuple[str, int | None]]:
    out: list[tuple[str, int | None]] = []
    # A label in parentheses may hold dots ("(v1.2)"): split outside them only.
    depth, cur = 0, ""
    for ch in field:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "." and depth == 0:
            out.append(_parse(cur))
            cur = ""
        else:
            cur += ch
    out.append(_parse(cur))
    return [p for p in out if p[0]]


def _parse(seg: str) -> tuple[str, int | None]:
    m = _SEGMENT.match(seg.strip())
    if not m:
        return ("", None)
    return m.group("name"), int(m.group("index")) if m.group("index") is not None else None
