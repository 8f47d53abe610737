"""Charts of the monthly reports as SVG markup, rendered on the server (issue 14).

Each function returns one `<svg>` element as a string, to be put inline in a page next to a table of
the same numbers: the chart is the overview, the table is what assistive technology reads (role="img"
makes the SVG a single image named by its <title> and <desc>). WCAG 2.1 AA choices:
- marks have at least 3:1 against white (1.4.11), and a white background is drawn so that this holds
  on any page;
- series differ by pattern, dash and marker shape as well as by colour (1.4.1);
- the text in a heat-map cell has at least 4.5:1 against that cell (1.4.3);
- text is at least 12 px when the chart is shown `width` CSS pixels wide (`viewBox` + width="100%"
  scale it to the container).
There is no <style> element (inline SVG styles would apply to the whole page) and no style attribute
(a strict Content-Security-Policy blocks them); presentation attributes are neither, and page CSS can
still override them.

Values: None is withheld by the small-cell rule and is written as such, never drawn as 0. NaN or an
infinite value, or one missing because a list of values is shorter than its labels, is "no data".
"""
from __future__ import annotations

import html
import itertools
import math
import re
import zlib
from collections.abc import Callable, Sequence

Value = float | None
Fmt = Callable[[float], str]

FONT = 14          # labels; value labels and ticks use SMALL
SMALL = 12
CHAR = 0.6         # average glyph width in em: layout only has to avoid overlaps, not be exact
MARGIN = 8.0
WHITE = "#ffffff"
INK = "#1a1a1a"    # 17:1 on white
AXIS = "#767676"   # the lightest grey with 4.5:1 on white
GRID = "#e0e0e0"   # a guide only: the ticks' numbers carry the meaning, so it need not reach 3:1
SERIES = ("#1f5a96", "#b04a00", "#2d6e32", "#6b3d8f")  # blue, orange, green, purple: each >= 6:1 on white
DASHES = ("", "7 4", "2 3", "9 3 2 3")
# Heat map: darker is more. The light end keeps 3:1 on white, so even the smallest value is a visible
# mark, and every channel falls from light to dark, so luminance (and contrast) is monotonic along the scale.
HEAT_LIGHT, HEAT_DARK = "#5f93cc", "#0a2a52"

_serial = itertools.count(1)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _default_fmt(v: float) -> str:
    return f"{v:g}"


def contrast(hex1: str, hex2: str) -> float:
    """WCAG 2.1 contrast ratio of two colours written #rgb or #rrggbb (1 to 21)."""
    hi, lo = sorted((_luminance(hex1), _luminance(hex2)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _luminance(colour: str) -> float:
    h = colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    r, g, b = (_linear(int(h[i:i + 2], 16) / 255) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _linear(c: float) -> float:
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def heat_colour(t: float) -> str:
    """The heat map's fill for t in [0, 1] (0 the least)."""
    t = min(1.0, max(0.0, t)) if math.isfinite(t) else 0.0
    a, b = HEAT_LIGHT.lstrip("#"), HEAT_DARK.lstrip("#")
    return "#" + "".join(f"{round(int(a[i:i + 2], 16) * (1 - t) + int(b[i:i + 2], 16) * t):02x}" for i in (0, 2, 4))


def text_on(fill: str) -> str:
    """Black or white, whichever contrasts more with `fill`: one of them always reaches 4.58:1."""
    return "#000000" if contrast(fill, "#000000") >= contrast(fill, WHITE) else WHITE


# --- markup helpers -------------------------------------------------------------------------------

def _esc(s: object) -> str:
    # Characters XML 1.0 forbids would make the page's SVG unparsable (and the PDF renderer fail).
    return html.escape(_NOT_XML.sub("", str(s)), quote=True)


def _n(x: float) -> str:
    """A coordinate; the layout keeps them finite, this keeps NaN/inf out of the markup regardless."""
    s = f"{x if math.isfinite(x) else 0.0:.1f}"
    return s[:-2] if s.endswith(".0") else s


def _width_of(s: str, size: float) -> float:
    return len(s) * size * CHAR


def _fit(s: str, px: float, size: float) -> str:
    """`s` cut with an ellipsis to about `px` wide; the full text is in the table beside the chart."""
    n = max(1, int(px / (size * CHAR)))
    return s if len(s) <= n else s[:n - 1] + "…"


def _text(x: float, y: float, s: str, *, size: int = FONT, anchor: str = "start", cls: str = "",
          fill: str = INK, extra: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    a = f' text-anchor="{anchor}"' if anchor != "start" else ""
    f = f' fill="{fill}"' if fill != INK else ""
    fs = f' font-size="{size}"' if size != FONT else ""
    return f'<text x="{_n(x)}" y="{_n(y)}"{a}{fs}{f}{c}{extra}>{_esc(s)}</text>'


def _hatch(pid: str, colour: str) -> str:
    return (f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse" '
            f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{WHITE}"/>'
            f'<line x1="1.5" y1="0" x2="1.5" y2="6" stroke="{colour}" stroke-width="3"/></pattern>')


def _prefix(id_prefix: str | None, title: str) -> str:
    if id_prefix:
        p = re.sub(r"[^A-Za-z0-9_-]", "-", id_prefix)
        return p if p[0].isalpha() else "c" + p
    # A serial makes ids unique within a process (so within a page); the title's hash keeps fragments
    # rendered by different worker processes apart too.
    return f"chart-{zlib.crc32(title.encode('utf-8', 'replace')):08x}-{next(_serial)}"


def _svg(kind: str, p: str, title: str, desc: str, w: float, h: float, defs: list[str], body: list[str]) -> str:
    # No height attribute: with width="100%" the browser derives it from the viewBox's aspect ratio.
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" role="img" '
            f'aria-labelledby="{p}-title {p}-desc" viewBox="0 0 {_n(w)} {_n(h)}" width="100%" '
            f'font-family="inherit" font-size="{FONT}" fill="{INK}">'
            f'<title id="{p}-title">{_esc(title)}</title><desc id="{p}-desc">{_esc(desc)}</desc>')
    d = f"<defs>{''.join(defs)}</defs>" if defs else ""
    return head + d + f'<rect width="{_n(w)}" height="{_n(h)}" fill="{WHITE}"/>' + "".join(body) + "</svg>"


def _no_data(kind: str, p: str, title: str, desc: str, w: float, text: str) -> str:
    return _svg(kind, p, title, desc, w, 40, [], [_text(MARGIN, 26, _fit(text, w - 2 * MARGIN, FONT), cls="nodata")])


# --- numbers --------------------------------------------------------------------------------------

def _at(values: Sequence[Value], i: int) -> float | None:
    """values[i] as a float: None (withheld) stays None, anything else unusable becomes NaN (no data)."""
    if i >= len(values):
        return math.nan
    v = values[i]
    if v is None:
        return None
    try:
        f = float(v)  # psycopg gives Decimal for numeric columns
    except (TypeError, ValueError):
        return math.nan
    return f if math.isfinite(f) else math.nan


def _shown(v: float | None) -> bool:
    return v is not None and not math.isnan(v)


def _frac(v: float, lo: float, hi: float) -> float:
    """Where v lies between lo and hi, 0 to 1. Halves first: hi - lo overflows near the float limit."""
    span = hi / 2 - lo / 2
    f = (v / 2 - lo / 2) / span if span > 0 else 0.0
    return min(1.0, max(0.0, f)) if math.isfinite(f) else 0.0


def _ticks(lo: float, hi: float) -> list[float]:
    """Round numbers from at most lo to at least hi (lo <= 0 <= hi), about five of them."""
    span = hi - lo
    if not (math.isfinite(span) and span > 0):
        return [lo, hi] if lo < hi else [0.0, 1.0]
    raw = span / 4
    if raw <= 0:  # a span of a few subnormals
        return [lo, hi]
    mag = 10.0 ** math.floor(math.log10(raw))
    if mag <= 0:
        return [lo, hi]
    step = next((m * mag for m in (1, 2, 2.5, 5) if m * mag >= raw), 10 * mag)
    first, last = math.floor(lo / step) * step, math.ceil(hi / step) * step
    if not (math.isfinite(first) and math.isfinite(last)) or (last - first) / step > 20:
        return [lo, hi]
    return [first + i * step for i in range(round((last - first) / step) + 1)]


def _width(width: float) -> float:
    return min(max(float(width), 240.0), 4000.0) if math.isfinite(width) else 640.0


def _label_step(labels: Sequence[str], slot: float, size: int) -> int:
    """Show every n-th axis label so that they do not overlap."""
    widest = max((_width_of(s, size) for s in labels), default=0.0)
    return max(1, math.ceil((widest + 8) / slot)) if slot > 0 else 1


# --- charts ---------------------------------------------------------------------------------------

def bars(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[Value]]], *, unit: str = "",
         fmt: Fmt = _default_fmt, withheld_text: str = "withheld", no_data_text: str = "no data",
         width: float = 640, desc: str = "", id_prefix: str | None = None) -> str:
    """Horizontal bars, one group per label: each label on its own line with its bars below it, so long
    names (sites, authorities) fit on a phone. `series`: one or two (name, values); the second (a
    comparison month) is hatched and a legend names both. Each bar has its value at its end."""
    p, w = _prefix(id_prefix, title), _width(width)
    series = [(str(name), vals) for name, vals in list(series)[:2]]
    desc = desc or "; ".join(name for name, _ in series) + (f" ({unit})" if unit else "")
    if not labels or not series:
        return _no_data("bars", p, title, desc, w, no_data_text)
    grid = [[_at(vals, i) for i in range(len(labels))] for _, vals in series]
    shown = [v for row in grid for v in row if v is not None and _shown(v)]
    lo, hi = min([0.0, *shown]), max([0.0, *shown])

    def said(v: float | None) -> str:
        if v is None:
            return withheld_text
        if math.isnan(v):
            return no_data_text
        return f"{fmt(v)} {unit}" if unit else str(fmt(v))

    said_grid = [[said(v) for v in row] for row in grid]
    pairs = [(v, s) for row, srow in zip(grid, said_grid) for v, s in zip(row, srow)]
    # Room for the value labels beyond the bars' ends (withheld and no-data texts go right of zero).
    right = max((_width_of(s, SMALL) + 6 for v, s in pairs if v is None or not v < 0), default=0.0)
    left = max((_width_of(s, SMALL) + 6 for v, s in pairs if v is not None and v < 0), default=0.0)
    x_lo, x_hi = MARGIN + min(left, 0.35 * w), w - MARGIN - min(right, 0.35 * w)
    x0 = x_lo + _frac(0.0, lo, hi) * (x_hi - x_lo)

    defs = [_hatch(f"{p}-hatch", SERIES[1])] if len(series) > 1 else []
    fills = [f'fill="{SERIES[0]}"', f'fill="url(#{p}-hatch)" stroke="{SERIES[1]}" stroke-width="1.5"']
    body: list[str] = []
    y = MARGIN
    if len(series) > 1:
        body.append('<g class="legend">')
        for k, (name, _) in enumerate(series):
            body.append(f'<rect x="{_n(MARGIN)}" y="{_n(y + 2)}" width="16" height="12" {fills[k]}/>')
            body.append(_text(MARGIN + 22, y + 13, _fit(name, w - 2 * MARGIN - 22, FONT)))
            y += 20
        body.append("</g>")
        y += 6
    bar_h = 16.0
    for i, label in enumerate(labels):
        body.append(_text(MARGIN, y + 14, _fit(str(label), w - 2 * MARGIN, FONT), cls="label"))
        y += 20
        top = y
        for k in range(len(series)):
            v, s = grid[k][i], said_grid[k][i]
            if v is None or math.isnan(v):
                body.append(_text(x0 + 4, y + 12.5, s, size=SMALL, cls="withheld" if v is None else "nodata",
                                  extra=' font-style="italic"'))
            else:
                xv = x_lo + _frac(v, lo, hi) * (x_hi - x_lo)
                body.append(f'<rect class="bar s{k}" x="{_n(min(x0, xv))}" y="{_n(y)}" width="{_n(abs(xv - x0))}" '
                            f'height="{_n(bar_h)}" {fills[k]}/>')
                body.append(_text(xv + 4, y + 12.5, s, size=SMALL, cls="value") if v >= 0 else
                            _text(xv - 4, y + 12.5, s, size=SMALL, cls="value", anchor="end"))
            y += bar_h + 3
        body.append(f'<line class="axis" x1="{_n(x0)}" y1="{_n(top - 2)}" x2="{_n(x0)}" y2="{_n(y - 1)}" '
                    f'stroke="{AXIS}"/>')
        y += 8
    return _svg("bars", p, title, desc, w, y + MARGIN, defs, body)


_MARKERS = (
    lambda x, y: f'<circle cx="{_n(x)}" cy="{_n(y)}" r="4.5"',
    lambda x, y: f'<rect x="{_n(x - 4)}" y="{_n(y - 4)}" width="8" height="8"',
    lambda x, y: f'<path d="M{_n(x)} {_n(y - 5.5)}L{_n(x + 5)} {_n(y + 3.5)}L{_n(x - 5)} {_n(y + 3.5)}Z"',
    lambda x, y: f'<path d="M{_n(x)} {_n(y - 5.5)}L{_n(x + 5.5)} {_n(y)}L{_n(x)} {_n(y + 5.5)}L{_n(x - 5.5)} {_n(y)}Z"',
)


def line(title: str, x_labels: Sequence[str], series: Sequence[tuple[str, Sequence[Value]]], *, unit: str = "",
         fmt: Fmt = _default_fmt, withheld_text: str = "withheld", no_data_text: str = "no data",
         width: float = 640, desc: str = "", id_prefix: str | None = None) -> str:
    """Lines over months, one per series (at most four; more would not be readable, the rest are left
    out): a marker at each value, the line broken where a value is missing, and the withheld text written
    upright in the month of a withheld value. Series differ by colour, dash and marker shape; a legend
    names them when there are two or more. The unit is written once, above the value axis."""
    p, w = _prefix(id_prefix, title), _width(width)
    series = [(str(name), vals) for name, vals in list(series)[:len(SERIES)]]
    desc = desc or "; ".join(name for name, _ in series) + (f" ({unit})" if unit else "")
    n = len(x_labels)
    if not n or not series:
        return _no_data("line", p, title, desc, w, no_data_text)
    grid = [[_at(vals, i) for i in range(n)] for _, vals in series]
    shown = [v for row in grid for v in row if v is not None and _shown(v)]
    ticks = _ticks(min([0.0, *shown]), max([0.0, *shown]))
    lo, hi = ticks[0], ticks[-1]

    body: list[str] = []
    y = MARGIN
    if len(series) > 1:
        body.append('<g class="legend">')
        for k, (name, _) in enumerate(series):
            dash = f' stroke-dasharray="{DASHES[k]}"' if DASHES[k] else ""
            body.append(f'<line x1="{_n(MARGIN)}" y1="{_n(y + 8)}" x2="{_n(MARGIN + 28)}" y2="{_n(y + 8)}" '
                        f'stroke="{SERIES[k]}" stroke-width="2.5"{dash}/>')
            body.append(_MARKERS[k](MARGIN + 14, y + 8) + f' fill="{SERIES[k]}"/>')
            body.append(_text(MARGIN + 36, y + 13, _fit(name, w - 2 * MARGIN - 36, FONT)))
            y += 20
        body.append("</g>")
        y += 4
    if unit:
        body.append(_text(MARGIN, y + 12, _fit(unit, w - 2 * MARGIN, SMALL), size=SMALL, cls="unit"))
        y += 16
    top, plot_h = y + 6, 200.0
    bottom = top + plot_h
    tick_texts = [str(fmt(t)) for t in ticks]
    left = MARGIN + min(max(_width_of(s, SMALL) for s in tick_texts), 0.3 * w) + 6
    right = w - MARGIN
    slot = (right - left) / n

    def ypos(v: float) -> float:
        return bottom - _frac(v, lo, hi) * plot_h

    for t, s in zip(ticks, tick_texts):
        body.append(f'<line class="grid" x1="{_n(left)}" y1="{_n(ypos(t))}" x2="{_n(right)}" y2="{_n(ypos(t))}" '
                    f'stroke="{AXIS if t == 0 else GRID}"/>')
        body.append(_text(left - 6, ypos(t) + 4, s, size=SMALL, anchor="end", cls="tick"))
    step = _label_step(x_labels, slot, SMALL)
    for i in range(0, n, step):
        body.append(_text(left + (i + 0.5) * slot, bottom + 18, _fit(str(x_labels[i]), step * slot - 4, SMALL),
                          size=SMALL, anchor="middle", cls="label"))

    for i in range(n):
        withheld = [name for (name, _), row in zip(series, grid) if row[i] is None]
        texts = [withheld_text] if len(withheld) == len(series) else [f"{name}: {withheld_text}" for name in withheld]
        for j, s in enumerate(texts):
            x = left + (i + 0.5) * slot + (j - (len(texts) - 1) / 2) * 14 + 4
            body.append(_text(x, bottom - 4, _fit(s, plot_h - 8, SMALL), size=SMALL, cls="withheld",
                              extra=f' transform="rotate(-90 {_n(x)} {_n(bottom - 4)})"'))

    for k, row in enumerate(grid):
        dash = f' stroke-dasharray="{DASHES[k]}"' if DASHES[k] else ""
        d, prev = [], False
        for i, v in enumerate(row):
            if v is not None and _shown(v):
                d.append(f"{'L' if prev else 'M'}{_n(left + (i + 0.5) * slot)} {_n(ypos(v))}")
            prev = v is not None and _shown(v)
        if d:
            body.append(f'<path class="line s{k}" d="{"".join(d)}" fill="none" stroke="{SERIES[k]}" '
                        f'stroke-width="2.5" stroke-linejoin="round"{dash}/>')
        for i, v in enumerate(row):
            if v is not None and _shown(v):
                body.append(_MARKERS[k](left + (i + 0.5) * slot, ypos(v)) + f' class="point s{k}" fill="{SERIES[k]}"/>')
    return _svg("line", p, title, desc, w, bottom + 26 + MARGIN, [], body)


def heatmap(title: str, row_labels: Sequence[str], col_labels: Sequence[str],
            values: Sequence[Sequence[Value]], *, unit: str = "", fmt: Fmt = _default_fmt,
            withheld_text: str = "withheld", no_data_text: str = "no data", width: float = 640,
            desc: str = "", id_prefix: str | None = None) -> str:
    """A grid (weekday x hour) shaded by value on one hue, darker for more, with each value written in
    its cell; withheld cells are hatched grey, no-data cells white. A legend below shows the scale's ends
    (with the unit) and the meaning of the hatching. If the values do not fit in cells of `width`, the
    chart is made wider (it then scales below 12 px text unless the page lets it scroll)."""
    p, w = _prefix(id_prefix, title), _width(width)
    desc = desc or unit
    rows, cols = len(row_labels), len(col_labels)
    if not rows or not cols:
        return _no_data("heatmap", p, title, desc, w, no_data_text)
    grid = [[_at(values[r] if r < len(values) else (), c) for c in range(cols)] for r in range(rows)]
    shown = [v for row in grid for v in row if v is not None and _shown(v)]
    lo, hi = min([0.0, *shown]), max([0.0, *shown])
    texts = [[str(fmt(v)) if v is not None and _shown(v) else "" for v in row] for row in grid]

    label_w = min(max(_width_of(str(s), FONT) for s in row_labels) + 8, 0.3 * w)
    widest = max(_width_of(s, SMALL) for row in texts for s in row)
    cell_w = max((w - 2 * MARGIN - label_w) / cols, widest + 6, 16.0)
    cell_h = 26.0
    w = 2 * MARGIN + label_w + cols * cell_w
    x0, y0 = MARGIN + label_w, MARGIN + 22

    hatch = f'fill="url(#{p}-hatch)" stroke="{AXIS}"'
    empty = f'fill="{WHITE}" stroke="{AXIS}"'
    body: list[str] = []
    step = _label_step([str(s) for s in col_labels], cell_w, SMALL)
    for c in range(0, cols, step):
        body.append(_text(x0 + (c + 0.5) * cell_w, y0 - 8, _fit(str(col_labels[c]), step * cell_w - 4, SMALL),
                          size=SMALL, anchor="middle", cls="label"))
    for r in range(rows):
        y = y0 + r * cell_h
        body.append(_text(MARGIN, y + cell_h / 2 + 5, _fit(str(row_labels[r]), label_w - 8, FONT), cls="label"))
        for c in range(cols):
            v, x = grid[r][c], x0 + c * cell_w
            cell = f'<rect class="cell" x="{_n(x)}" y="{_n(y)}" width="{_n(cell_w)}" height="{_n(cell_h)}" '
            if v is None:
                body.append(cell + f'{hatch}><title>{_esc(withheld_text)}</title></rect>')
            elif math.isnan(v):
                body.append(cell + f'{empty}><title>{_esc(no_data_text)}</title></rect>')
            else:
                fill = heat_colour(_frac(v, lo, hi))
                # A white hairline keeps neighbouring cells of near-equal shade apart.
                body.append(cell + f'fill="{fill}" stroke="{WHITE}"/>')
                body.append(_text(x + cell_w / 2, y + cell_h / 2 + 4, texts[r][c], size=SMALL, anchor="middle",
                                  fill=text_on(fill), cls="value"))

    y = y0 + rows * cell_h + 12
    body.append('<g class="legend">')
    u = f" {unit}" if unit else ""
    low, high = f"{fmt(lo)}{u}", f"{fmt(hi)}{u}"
    x = MARGIN + _width_of(low, SMALL) + 6
    body.append(_text(MARGIN, y + 12, low, size=SMALL))
    for k in range(5):
        body.append(f'<rect x="{_n(x + 20 * k)}" y="{_n(y)}" width="20" height="16" fill="{heat_colour(k / 4)}"/>')
    body.append(_text(x + 106, y + 12, _fit(high, w - MARGIN - x - 106, SMALL), size=SMALL))
    y += 22
    for used, attrs, s in ((any(v is None for row in grid for v in row), hatch, withheld_text),
                           (any(v is not None and math.isnan(v) for row in grid for v in row), empty, no_data_text)):
        if used:
            body.append(f'<rect x="{_n(MARGIN + 0.5)}" y="{_n(y + 0.5)}" width="20" height="15" {attrs}/>')
            body.append(_text(MARGIN + 26, y + 12, _fit(s, w - 2 * MARGIN - 26, SMALL), size=SMALL))
            y += 22
    body.append("</g>")
    defs = [_hatch(f"{p}-hatch", AXIS)] if any(v is None for row in grid for v in row) else []
    return _svg("heatmap", p, title, desc, w, y + MARGIN, defs, body)
