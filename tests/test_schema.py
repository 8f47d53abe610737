"""core.schema: the one parser every configuration section goes through — types, ranges, choices,
unknown keys, nested paths, every problem at once — and the reference it renders."""
from __future__ import annotations

import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.config import ConfigError
from core.schema import (
    REQUIRED,
    AnyOf,
    Bool,
    Check,
    Choice,
    Field,
    Int,
    ListOf,
    Number,
    Section,
    Table,
    Tables,
    Text,
    Texts,
    describe,
    load,
    parse,
)

INNER = Section("inner", (
    Field("limit", Int(1, 10), 3, "how many"),
    Field("mode", Choice("a", "b"), "a", "which way"),
))
ENTRY = Section("items", (
    Field("id", Text(pattern=r"[a-z]+", label="an id"), REQUIRED, "its id", example="x"),
    Field("name", Texts(required=("fi", "sv"), known=("fi", "sv", "en")), REQUIRED, "names"),
))


def _lo_below_hi(v, ctx):
    return [("hi", "must be above lo")] if v["hi"] <= v["lo"] else []


def _known_only(v, ctx):
    known = ctx.get("known")
    return [] if known is None else [("tags", f"unknown tag {t!r}") for t in v["tags"] if t not in known]


TOP = Section("top", (
    Field("lo", Number(0, 100), 1.0, "lower"),
    Field("hi", Number(0, 100), 10.0, "upper"),
    Field("on", Bool(), False, "switch", aliases=("enabled",)),
    Field("tags", ListOf(Text(nonempty=True), unique=True), (), "tags"),
    Field("player", AnyOf(Choice("auto"), ListOf(Text(nonempty=True), min_len=1), message="auto or a command"),
          "auto", "player"),
    Field("inner", Table(INNER), description="nested"),
    Field("extra", Table(INNER, optional=True), description="optional nested"),
    Field("items", Tables(ENTRY, label=lambda raw: raw.get("id") if isinstance(raw.get("id"), str) else None), []),
), checks=(Check(("lo", "hi"), _lo_below_hi), Check(("tags",), _known_only)))


def fields_of(table, ctx=None) -> dict[str, str]:
    _, issues = parse(TOP, table, ctx=ctx)
    return {i.field: i.message for i in issues}


def test_defaults_and_conversion():
    v, issues = parse(TOP, {"lo": 2, "tags": ["x", "y"], "player": ["aplay", "-q"], "inner": {"limit": 4.0}})
    assert issues == []
    assert v["lo"] == 2.0 and isinstance(v["lo"], float) and v["hi"] == 10.0
    assert v["tags"] == ("x", "y") and v["player"] == ("aplay", "-q")
    assert v["inner"] == {"limit": 4, "mode": "a"} and isinstance(v["inner"]["limit"], int)
    assert v["extra"] is None and v["items"] == [] and v["on"] is False


@pytest.mark.parametrize("table,field", [
    ({"lo": "1"}, "top.lo"), ({"lo": True}, "top.lo"), ({"lo": float("nan")}, "top.lo"),
    ({"inner": {"limit": float("inf")}}, "top.inner.limit"), ({"lo": -1}, "top.lo"), ({"hi": 101}, "top.hi"),
    ({"on": "false"}, "top.on"), ({"on": 0}, "top.on"),
    ({"tags": "x"}, "top.tags"), ({"tags": ["x", ""]}, "top.tags"), ({"tags": ["x", "x"]}, "top.tags"),
    ({"player": "pw"}, "top.player"), ({"player": []}, "top.player"),
    ({"inner": {"limit": 2.5}}, "top.inner.limit"), ({"inner": {"limit": 11}}, "top.inner.limit"),
    ({"inner": {"mode": "c"}}, "top.inner.mode"), ({"inner": 5}, "top.inner"),
    ({"extra": {"limit": 0}}, "top.extra.limit"),
    ({"items": {"id": "x"}}, "top.items"),
])
def test_each_wrong_value_is_named_by_its_path(table, field):
    assert field in fields_of(table)


def test_unknown_keys_name_the_known_ones():
    iss = fields_of({"colour": 1, "inner": {"limt": 3}})
    assert iss["top.colour"].startswith("unknown key (known: lo, hi, on, tags, player, inner, extra, items")
    assert iss["top.inner.limt"] == "unknown key (known: limit, mode)"


def test_alias_and_both_names():
    v, issues = parse(TOP, {"enabled": True})
    assert issues == [] and v["on"] is True
    assert "top.enabled" in fields_of({"enabled": True, "on": False})


def test_every_problem_at_once_with_nested_and_array_paths():
    iss = fields_of({"lo": "x", "hi": -5, "bogus": 1, "inner": {"mode": "z"},
                     "items": [{"id": "ok", "name": {"fi": "a", "sv": "b"}},
                               {"id": "two", "name": {"fi": "a", "de": "b"}},
                               {"id": 5, "name": {"fi": "a", "sv": "b"}},
                               "not a table"]})
    assert iss == {
        "top.lo": "must be a number from 0 to 100",
        "top.hi": "must be a number from 0 to 100",
        "top.bogus": iss["top.bogus"],
        "top.inner.mode": 'must be one of "a", "b"',
        "top.items[1] (two).name.sv": "missing sv text",
        "top.items[1] (two).name.de": "unknown language code (known: fi, sv, en)",
        "top.items[2].id": "must be an id",
        "top.items[3]": "must be a table",
    }


def test_a_required_field_and_a_whole_file_prefix():
    _, issues = parse(ENTRY, {"name": {"fi": "a", "sv": "b"}}, "items[0]")
    assert [(i.field, i.message) for i in issues] == [("items[0].id", "missing (must be an id)")]
    _, issues = parse(TOP, {"bogus": 1}, "")
    assert issues[0].field == "bogus"


def test_cross_field_checks_run_on_good_values_only():
    assert fields_of({"lo": 50, "hi": 20}) == {"top.hi": "must be above lo"}
    # lo is wrong: whether hi is above it cannot be said, and is not claimed
    assert fields_of({"lo": "x", "hi": 0.5}) == {"top.lo": "must be a number from 0 to 100"}


def test_context_checks_apply_only_with_a_context():
    assert fields_of({"tags": ["a", "b"]}) == {}
    assert fields_of({"tags": ["a", "b"]}, ctx={"known": {"a"}}) == {"top.tags": "unknown tag 'b'"}


def test_load_raises_with_every_issue_or_builds_the_object():
    made = Section("inner", INNER.fields, make=lambda v: ("made", v["limit"]))
    assert load(made, {"limit": 7}, "src") == ("made", 7)
    with pytest.raises(ConfigError) as exc:
        load(made, {"limit": 0, "mode": "x", "oops": 1}, "src.toml")
    assert exc.value.source == "src.toml"
    assert {i.field for i in exc.value.issues} == {"inner.limit", "inner.mode", "inner.oops"}
    assert "3 problem(s)" in exc.value.report()


def test_nested_objects_are_built_inside_out():
    outer = Section("o", (Field("inner", Table(Section("inner", INNER.fields, make=lambda v: v["limit"] * 10))),))
    assert load(outer, {"inner": {"limit": 2}}, "s") == {"inner": 20}


def test_the_reference_is_valid_toml_with_the_defaults():
    text = "\n".join(describe(TOP))
    doc = tomllib.loads(text)
    assert doc["top"]["lo"] == 1 and doc["top"]["player"] == "auto" and doc["top"]["inner"]["limit"] == 3
    # a field without a default is shown commented out, so the reference still parses
    assert "# extra" not in text and "[top.extra]" in text and "[[top.items]]" in text
    assert 'id = "x"' in text and "required" in text
    back, issues = parse(TOP, {k: v for k, v in doc["top"].items() if k != "items"})
    assert issues == [] and back["lo"] == 1.0


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(),
                 st.lists(st.integers()), st.dictionaries(st.text(), st.integers())))
def test_any_value_is_either_accepted_in_range_or_named(value):
    v, issues = parse(TOP, {"lo": value, "inner": {"limit": value}})
    by_field = {i.field for i in issues}
    if "top.lo" not in by_field:
        assert isinstance(v["lo"], float) and 0 <= v["lo"] <= 100
    if "top.inner.limit" not in by_field:
        assert isinstance(v["inner"]["limit"], int) and 1 <= v["inner"]["limit"] <= 10
    assert by_field <= {"top.lo", "top.inner.limit", "top.hi"}
