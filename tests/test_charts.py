"""central.charts: the report charts are well-formed, accessible SVG for any input (issue 14)."""
import math
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central import charts
from central.charts import bars, contrast, heat_colour, heatmap, line, text_on

NS = "{http://www.w3.org/2000/svg}"
XSS = "<script>alert(1)</script>"
NUMERIC = {"x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "width", "height", "d", "viewBox", "transform",
           "stroke-width", "font-size"}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def tag(el: ET.Element) -> str:
    return el.tag.removeprefix(NS)


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [el for el in root.iter() if cls in el.get("class", "").split()]


def texts(root: ET.Element) -> list[str]:
    return ["".join(el.itertext()) for el in root.iter(NS + "text")]


def font_sizes(el: ET.Element, inherited: float = 16.0) -> list[float]:
    """The effective font size of every <text>, following inheritance from the root."""
    size = float(el.get("font-size", inherited))
    own = [size] if tag(el) == "text" else []
    return own + [s for child in el for s in font_sizes(child, size)]


def assert_sound(svg: str) -> ET.Element:
    """Well-formed, accessible, self-contained, and every coordinate finite."""
    root = parse(svg)
    assert tag(root) == "svg" and root.get("role") == "img"
    assert root.get("width") == "100%" and root.get("font-family") == "inherit"
    assert re.fullmatch(r"0 0 [\d.]+ [\d.]+", root.get("viewBox", ""))
    title_id, desc_id = root.get("aria-labelledby", "").split()
    assert [tag(root[0]), root[0].get("id"), tag(root[1]), root[1].get("id")] == ["title", title_id, "desc", desc_id]
    for el in root.iter():
        assert tag(el) not in ("script", "style", "foreignObject", "image", "a")
        assert "style" not in el.attrib and not any("href" in a for a in el.attrib)
        for name in NUMERIC & el.attrib.keys():
            value = el.get(name, "").lower()
            assert "nan" not in value and "inf" not in value, (name, value)
            assert all(math.isfinite(float(t)) for t in re.findall(r"-?[\d.]+(?:e[-+]?\d+)?", value))
    assert min(font_sizes(root), default=12) >= 12
    return root


def mark_colours(root: ET.Element) -> set[str]:
    """Fills and strokes of the data marks, axes, legend swatches and patterns (white is the background)."""
    marks = [el for el in root.iter() if tag(el) in ("rect", "circle", "path", "line")
             and "grid" not in el.get("class", "") and "cell" not in el.get("class", "")]
    colours = {el.get(a) for el in marks for a in ("fill", "stroke")}
    return {c for c in colours if c and c.startswith("#") and c != charts.WHITE}


def test_contrast_matches_wcag():
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#fff", "#000") == pytest.approx(21)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert contrast("#777777", "#ffffff") < 4.5
    assert contrast("#1f5a96", "#1f5a96") == pytest.approx(1)


def test_palette_reaches_3_to_1_on_white():
    for colour in (*charts.SERIES, charts.AXIS, charts.INK, charts.HEAT_LIGHT, charts.HEAT_DARK):
        assert contrast(colour, "#ffffff") >= 3, colour


@given(st.floats(0, 1))
def test_every_heat_colour_is_a_mark_and_carries_readable_text(t):
    fill = heat_colour(t)
    assert contrast(fill, "#ffffff") >= 3
    assert contrast(text_on(fill), fill) >= 4.5


def test_bars_two_series_with_withheld_value():
    svg = bars("Waiting time", ["Espoo", "Vantaa", "Turku"],
               [("This month", [12.5, None, 0]), ("Last month", [10, 7, float("nan")])],
               unit="min", withheld_text="withheld", no_data_text="no data", id_prefix="wait")
    root = assert_sound(svg)
    assert root.get("aria-labelledby") == "wait-title wait-desc"
    assert root[0].text == "Waiting time"
    assert len(by_class(root, "s0")) == 2 and len(by_class(root, "s1")) == 2
    assert len(by_class(root, "bar")) == 4
    assert ["".join(el.itertext()) for el in by_class(root, "withheld")] == ["withheld"]
    assert ["".join(el.itertext()) for el in by_class(root, "nodata")] == ["no data"]
    assert "12.5 min" in texts(root) and "0 min" in texts(root)
    legend = by_class(root, "legend")
    assert len(legend) == 1 and {"This month", "Last month"} <= set(texts(legend[0]))
    # the comparison is hatched, not only another colour
    hatched = by_class(root, "s1")[0]
    assert hatched.get("fill") == "url(#wait-hatch)" and root.find(f".//{NS}pattern[@id='wait-hatch']") is not None
    for colour in mark_colours(root):
        assert contrast(colour, "#ffffff") >= 3, colour


def test_withheld_value_draws_no_bar_in_its_place():
    root = assert_sound(bars("t", ["a"], [("now", [None])], withheld_text="salattu"))
    assert by_class(root, "bar") == [] and texts(root)[-1] == "salattu"
    assert by_class(root, "legend") == []  # one series: the title names it


def test_negative_values_grow_left_of_the_axis():
    root = assert_sound(bars("t", ["a", "b"], [("now", [-5, 5])]))
    neg, pos = by_class(root, "bar")
    axis = float(by_class(root, "axis")[0].get("x1"))
    assert float(neg.get("x")) + float(neg.get("width")) == pytest.approx(axis, abs=0.1)
    assert float(pos.get("x")) == pytest.approx(axis, abs=0.1)


def test_values_are_formatted_by_the_caller():
    root = parse(bars("t", ["a"], [("now", [2.5])], fmt=lambda v: f"{v:.1f}".replace(".", ","), unit="%"))
    assert "2,5 %" in texts(root)


def test_line_points_gaps_and_legend():
    svg = line("Trend", [f"{m}/25" for m in range(1, 13)],
               [("Wait", [5, 6, None, 7, 8, 9, None, None, 6, 5, 4, 3]),
                ("Service", [3, 4, 4, 4, 5, 5, 6, 6, 7, float("nan"), 7, 8])], unit="min", id_prefix="trend")
    root = assert_sound(svg)
    assert len(by_class(root, "point")) == 9 + 11
    wait, service = by_class(root, "line")
    assert wait.get("d").count("M") == 3 and service.get("d").count("M") == 2
    assert wait.get("stroke-dasharray") is None and service.get("stroke-dasharray")  # not colour only
    assert {tag(el) for el in by_class(root, "s0") if "point" in el.get("class")} != \
        {tag(el) for el in by_class(root, "s1") if "point" in el.get("class")}
    assert [t for t in texts(root) if "withheld" in t] == ["Wait: withheld"] * 3
    assert {"Wait", "Service"} <= set(texts(by_class(root, "legend")[0]))
    assert "min" in texts(root)
    for colour in mark_colours(root):
        assert contrast(colour, "#ffffff") >= 3, colour


def test_line_single_series_writes_withheld_without_name():
    root = assert_sound(line("t", ["1", "2", "3"], [("Wait", [1, None, 3])]))
    assert [t for t in texts(root) if "withheld" in t] == ["withheld"]
    assert by_class(root, "legend") == [] and len(by_class(root, "point")) == 2


def test_heatmap_cells_text_contrast_and_withheld():
    values = [[0, 5, None], [10, float("nan"), 20]]
    root = assert_sound(heatmap("Arrivals", ["Mon", "Tue"], ["8", "9", "10"], values, unit="customers",
                                withheld_text="withheld", no_data_text="no data", id_prefix="arr"))
    cells = by_class(root, "cell")
    assert len(cells) == 6
    assert cells[2].get("fill") == "url(#arr-hatch)" and cells[4].get("fill") == "#ffffff"
    values_drawn = by_class(root, "value")
    assert ["".join(el.itertext()) for el in values_drawn] == ["0", "5", "10", "20"]
    filled = [c for c in cells if c.get("fill", "").startswith("#") and c.get("fill") != "#ffffff"]
    for cell, text in zip(filled, values_drawn):
        assert contrast(text.get("fill"), cell.get("fill")) >= 4.5
        assert contrast(cell.get("fill"), "#ffffff") >= 3
    # darker is more
    assert contrast(filled[0].get("fill"), "#ffffff") < contrast(filled[-1].get("fill"), "#ffffff")
    legend = texts(by_class(root, "legend")[0])
    assert {"0 customers", "20 customers", "withheld", "no data"} <= set(legend)
    assert contrast(charts.AXIS, "#ffffff") >= 3  # the hatching and outlines of withheld/no-data cells


@pytest.mark.parametrize("chart", ["bars", "line", "heatmap"])
def test_every_string_is_escaped(chart):
    if chart == "bars":
        svg = bars(XSS, [XSS], [(XSS, [None]), (XSS, [1])], unit=XSS, withheld_text=XSS, desc=XSS, id_prefix=XSS)
    elif chart == "line":
        svg = line(XSS, [XSS], [(XSS, [None]), (XSS, [1])], unit=XSS, withheld_text=XSS, desc=XSS, id_prefix=XSS)
    else:
        svg = heatmap(XSS, [XSS], [XSS], [[1, None]], unit=XSS, withheld_text=XSS, desc=XSS, id_prefix=XSS)
    assert "<script" not in svg and "&lt;script&gt;" in svg
    root = assert_sound(svg)
    assert root[0].text == XSS and any(XSS in t for t in texts(root))


def test_ids_are_unique_per_call():
    a, b = parse(bars("Same", ["x"], [("s", [1])])), parse(bars("Same", ["x"], [("s", [1])]))
    assert a.get("aria-labelledby") != b.get("aria-labelledby")
    assert parse(line("t", ["x"], [("s", [1])], id_prefix="9 bad id")).get("aria-labelledby") == \
        "c9-bad-id-title c9-bad-id-desc"


@pytest.mark.parametrize("svg", [
    bars("t", [], []), bars("t", ["a"], []), bars("t", ["a", "b"], [("s", [])]),
    bars("t", ["a"], [("s", [None]), ("p", [None])]), bars("t", ["a", "b"], [("s", [0, 0])]),
    line("t", [], []), line("t", ["a"], [("s", [None])]), line("t", ["a", "b"], [("s", [0, 0])]),
    heatmap("t", [], [], []), heatmap("t", ["a"], ["b"], [[None]]), heatmap("t", ["a", "b"], ["c"], []),
    bars("t", ["a", "b"], [("s", [1.7e308, -1.7e308])]), line("t", ["a", "b"], [("s", [1.7e308, -1.7e308])]),
    heatmap("t", ["a"], ["b", "c"], [[1.7e308, -1.7e308]]), line("t", ["a", "b"], [("s", [5e-324, 0])]),
])
def test_edge_inputs(svg):
    assert_sound(svg)


def test_nothing_to_show_says_so():
    assert "nothing" in texts(parse(bars("t", [], [], no_data_text="nothing")))


values = st.one_of(st.none(), st.floats(), st.integers(-10**6, 10**6))
label_lists = st.lists(st.text(max_size=30), max_size=14)


@settings(max_examples=60, deadline=None)
@given(labels=label_lists, a=st.lists(values, max_size=16), b=st.lists(values, max_size=16),
       two=st.booleans(), title=st.text(max_size=20))
def test_bars_any_input(labels, a, b, two, title):
    series = [("now", a), ("before", b)] if two else [("now", a)]
    root = assert_sound(bars(title, labels, series))
    drawn = [v for vals in ([a, b] if two else [a]) for v in vals[:len(labels)]
             if v is not None and math.isfinite(v)]
    assert len(by_class(root, "bar")) == (len(drawn) if labels else 0)
    withheld = sum(v is None for vals in ([a, b] if two else [a]) for v in vals[:len(labels)])
    assert len(by_class(root, "withheld")) == withheld


@settings(max_examples=60, deadline=None)
@given(labels=label_lists, series=st.lists(st.tuples(st.text(max_size=10), st.lists(values, max_size=16)),
                                           max_size=5))
def test_line_any_input(labels, series):
    root = assert_sound(line("t", labels, series))
    drawn = [v for _, vals in series[:4] for v in vals[:len(labels)] if v is not None and math.isfinite(v)]
    assert len(by_class(root, "point")) == (len(drawn) if labels else 0)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.text(max_size=12), max_size=7), cols=st.lists(st.text(max_size=5), max_size=24),
       grid=st.lists(st.lists(values, max_size=24), max_size=8))
def test_heatmap_any_input(rows, cols, grid):
    root = assert_sound(heatmap("t", rows, cols, grid))
    cells = by_class(root, "cell")
    assert len(cells) == len(rows) * len(cols)
    drawn = [c for c in cells if c.get("fill", "").startswith("#") and c.get("fill") != "#ffffff"]
    for cell, text in zip(drawn, by_class(root, "value")):
        assert contrast(text.get("fill"), cell.get("fill")) >= 4.5
