"""Configuration sections declared as data, and the one parser that checks a TOML table against them.

    KIOSK = Section("kiosk", (
        Field("idle_s", Number(10, 600), 30, "no touch this long: back to the start screen"),
        ...), checks=(Check(("idle_s", "idle_warn_s"), _warn_before_idle),))
    settings = load(KIOSK, table, source="kiosk-1: [kiosk]", prefix="kiosk")

`parse` returns the converted values (plain data: dicts, lists, floats, tuples) and every problem
at once as `Issue`s, each naming its path ("kiosk.idle_s", "services[3] (vero).name.sv"), unknown
keys included; `load` raises ConfigError with them, or builds the section's object (`make`).
`describe` renders a section as a commented TOML reference.

Why not voluptuous, pydantic or attrs/cattrs: what is needed here is small (a few scalar types,
ranges, choices, nested tables, cross-field checks, paths in messages), and this runs on every
device, a Raspberry Pi included, where pydantic's compiled core is a large wheel and the others
would still need the path-per-issue reporting and the reference rendering written around them.
Pure: imports nothing of the project.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ConfigError(Exception):
    def __init__(self, source: str, issues: list[Issue]) -> None:
        self.source = source
        self.issues = issues
        super().__init__(f"{source}: " + "; ".join(map(str, issues)))

    def report(self) -> str:
        """Every problem on its own line, for a technician fixing the file in one pass."""
        return "\n".join([f"{self.source}: {len(self.issues)} problem(s):",
                          *(f"  {i.field}: {i.message}" for i in self.issues)])


class Invalid(Exception):
    """Raised by a type's `check` with what is wrong ("must be ..."), caught by the parser."""


#: Marks a value that did not pass its type, so the parser can tell it from a real None.
_BAD = object()


def join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


# --- types -----------------------------------------------------------------------------------

class Type:
    """What a value must be. Scalars override `check`; containers override `parse`."""

    label = "value"

    def check(self, value: Any, ctx: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def parse(self, value: Any, path: str, issues: list[Issue], ctx: Mapping[str, Any]) -> Any:
        try:
            return self.check(value, ctx)
        except Invalid as exc:
            issues.append(Issue(path, str(exc)))
            return _BAD

    def example(self, default: Any) -> str:
        return _toml(default)


def _is_number(v: Any) -> bool:
    # TOML has nan and inf; neither is a usable setting, and nan slips through every comparison.
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _span(lo: float | None, hi: float | None, lo_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f" from {lo:g} to {hi:g}" if not lo_open else f" above {lo:g}, at most {hi:g}"
    if lo is not None:
        return f" above {lo:g}" if lo_open else f" of at least {lo:g}"
    if hi is not None:
        return f" of at most {hi:g}"
    return ""


class Bool(Type):
    label = "true or false"

    def check(self, value, ctx):
        # "false" as text would be truthy in Python: only real booleans are accepted.
        if not isinstance(value, bool):
            raise Invalid("must be true or false")
        return value


class Number(Type):
    def __init__(self, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                 unit: str = "") -> None:
        self.lo, self.hi, self.lo_open = lo, hi, lo_open
        self.label = f"a number{' of ' + unit if unit else ''}{_span(lo, hi, lo_open)}"

    def check(self, value, ctx):
        if not _is_number(value) or not self._in_range(value):
            raise Invalid(f"must be {self.label}")
        return float(value)

    def _in_range(self, v: float) -> bool:
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return self.hi is None or v <= self.hi


class Int(Number):
    """A whole number; 3.0 counts as 3 (TOML writers sometimes add the point)."""

    def __init__(self, lo: int | None = None, hi: int | None = None, *, lo_open: bool = False) -> None:
        super().__init__(lo, hi, lo_open=lo_open)
        self.label = f"a whole number{_span(lo, hi, lo_open)}"

    def check(self, value, ctx):
        if not _is_number(value) or (isinstance(value, float) and not value.is_integer()) \
                or not self._in_range(value):
            raise Invalid(f"must be {self.label}")
        return int(value)


class Text(Type):
    """Text, optionally matching `pattern` (whole string) or passing `test` (None when fine,
    else what is wrong). `message` replaces the generic complaint."""

    def __init__(self, *, pattern: str | None = None, nonempty: bool = False,
                 test: Callable[[str], str | None] | None = None, message: str | None = None,
                 label: str = "text") -> None:
        self.pattern = re.compile(pattern) if pattern else None
        self.nonempty, self.test, self.message, self.label = nonempty, test, message, label

    def check(self, value, ctx):
        if not isinstance(value, str) or (self.nonempty and not value.strip()) \
                or (self.pattern is not None and not self.pattern.fullmatch(value)):
            raise Invalid(self.message or f"must be {self.label}")
        if self.test is not None:
            problem = self.test(value)
            if problem:
                raise Invalid(problem)
        return value


class Choice(Type):
    """One of a fixed set; the value's type must match too (True is not 1)."""

    def __init__(self, *values: Any, message: str | None = None) -> None:
        self.values = values
        self.message = message
        self.label = "one of " + ", ".join(_toml(v) for v in values)

    def check(self, value, ctx):
        if not any(type(value) is type(v) and value == v for v in self.values):
            raise Invalid(self.message or f"must be {self.label}")
        return value


class ListOf(Type):
    """A list whose items each pass `item`; becomes a tuple. Bad items are named in one issue."""

    def __init__(self, item: Type, *, min_len: int = 0, unique: bool = False, what: str | None = None) -> None:
        self.item, self.min_len, self.unique = item, min_len, unique
        self.label = f"a list of {what or item.label}" + (" (at least one)" if min_len else "")

    def check(self, value, ctx):
        if not isinstance(value, list):
            raise Invalid(f"must be {self.label}")
        if len(value) < self.min_len:
            raise Invalid(f"must be {self.label}")
        out, bad = [], []
        for v in value:
            try:
                out.append(self.item.check(v, ctx))
            except Invalid as exc:
                bad.append(f"{v!r} {exc}")
        if bad:
            raise Invalid("; ".join(bad))
        if self.unique and len(set(out)) != len(out):
            raise Invalid("an item is listed twice")
        return tuple(out)


class AnyOf(Type):
    """The first of `types` that accepts the value."""

    def __init__(self, *types: Type, message: str) -> None:
        self.types, self.message = types, message
        self.label = " or ".join(t.label for t in types)

    def check(self, value, ctx):
        for t in self.types:
            try:
                return t.check(value, ctx)
            except Invalid:
                continue
        raise Invalid(self.message)


class Texts(Type):
    """A table of texts per language ({ fi = "...", sv = "..." }), each problem under its own
    path ("site.name.sv"). `required` languages must have text; `known` limits the codes."""

    def __init__(self, *, required: tuple[str, ...] = (), known: tuple[str, ...] | None = None,
                 names: Mapping[str, str] | None = None) -> None:
        self.required, self.known, self.names = required, known, names or {}
        self.label = "a table of texts per language" + (f" ({', '.join(required)} required)" if required else "")

    def parse(self, value, path, issues, ctx):
        if not isinstance(value, dict):
            issues.append(Issue(path, f"must be {self.label}, like {{ fi = \"...\", sv = \"...\" }}"))
            return _BAD
        out: dict[str, str] = {}
        for lang in self.required:
            v = value.get(lang)
            if not isinstance(v, str) or not v.strip():
                issues.append(Issue(join(path, lang), f"missing {self.names.get(lang, lang)} text"))
        for lang, v in value.items():
            if self.known is not None and lang not in self.known:
                issues.append(Issue(join(path, lang), f"unknown language code (known: {', '.join(self.known)})"))
            elif not isinstance(v, str):
                issues.append(Issue(join(path, lang), "must be text"))
            elif v.strip():
                out[lang] = v.strip()
        return out


class Table(Type):
    """A nested table declared by its own Section; missing, it takes its fields' defaults
    (or None when `optional`)."""

    def __init__(self, section: "Section", *, optional: bool = False) -> None:
        self.section, self.optional = section, optional
        self.label = f"a table ({section.name})"

    def parse(self, value, path, issues, ctx):
        return _parse_section(self.section, value, path, issues, ctx)


class Tables(Type):
    """An array of tables ([[services]]); `label` gives an entry's name for its path
    ("services[2] (poliisi)") or None to leave it out."""

    def __init__(self, section: "Section", *, min_len: int = 0,
                 label: Callable[[dict[str, Any]], str | None] | None = None) -> None:
        self.section, self.min_len, self.entry_label = section, min_len, label
        self.label = f"an array of [[{section.name}]] tables"

    def path_of(self, path: str, i: int, raw: Any) -> str:
        name = self.entry_label(raw) if self.entry_label and isinstance(raw, dict) else None
        return f"{path}[{i}] ({name})" if name else f"{path}[{i}]"

    def parse(self, value, path, issues, ctx):
        if not isinstance(value, list) or len(value) < self.min_len:
            issues.append(Issue(path, f"at least one [[{self.section.name}]] entry is needed" if self.min_len
                                else f"must be {self.label}"))
            return _BAD
        entries = (_parse_section(self.section, raw, self.path_of(path, i, raw), issues, ctx)
                   for i, raw in enumerate(value))
        # An entry that is no table at all stays in place as None, so indexes keep matching paths.
        return [None if e is _BAD else e for e in entries]


# --- sections --------------------------------------------------------------------------------

REQUIRED = object()


@dataclass(frozen=True)
class Field:
    name: str
    type: Type
    default: Any = None          # REQUIRED: must be given
    description: str = ""
    aliases: tuple[str, ...] = ()
    missing: str | None = None   # the complaint when a REQUIRED field is absent
    example: Any = None          # shown in the reference for a field without a default


#: A check across fields: `fn(values, ctx)` yields (path relative to the section, message).
#: It is skipped when one of `fields` was missing or of the wrong type (already reported).
@dataclass(frozen=True)
class Check:
    fields: tuple[str, ...]
    fn: Callable[[dict[str, Any], Mapping[str, Any]], Iterable[tuple[str, str]]]


@dataclass(frozen=True)
class Section:
    name: str
    fields: tuple[Field, ...]
    checks: tuple[Check, ...] = ()
    description: str = ""
    noun: str = "key"            # what an unknown name is called ("unknown day", "unknown section")
    make: Callable[[dict[str, Any]], Any] | None = None  # values -> the section's object
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    def field(self, name: str) -> Field:
        return self.by_name[name]


def _parse_section(section: Section, table: Any, prefix: str, issues: list[Issue],
                   ctx: Mapping[str, Any]) -> Any:
    if not isinstance(table, dict):
        issues.append(Issue(prefix, "must be a table"))
        return _BAD
    table = dict(table)
    aliases = {a: f.name for f in section.fields for a in f.aliases}
    for alias, name in aliases.items():
        if alias in table:
            if name in table:
                issues.append(Issue(join(prefix, alias), f"set either {name} or {alias}, not both"))
            table[name] = table.pop(alias)
    known = ", ".join(section.by_name)
    for key in table:
        if key not in section.by_name:
            issues.append(Issue(join(prefix, key), f"unknown {section.noun} (known: {known})"))
    values: dict[str, Any] = {}
    failed: set[str] = set()
    for f in section.fields:
        path = join(prefix, f.name)
        if f.name not in table:
            if isinstance(f.type, Table) and f.default is not REQUIRED:
                values[f.name] = None if f.type.optional else _parse_section(f.type.section, {}, path, issues, ctx)
                continue
            if f.default is REQUIRED:
                issues.append(Issue(path, f.missing or f"missing (must be {f.type.label})"))
                failed.add(f.name)
                values[f.name] = None
            else:
                values[f.name] = f.default
            continue
        v = f.type.parse(table[f.name], path, issues, ctx)
        if v is _BAD:
            failed.add(f.name)
            v = None if f.default is REQUIRED else f.default
        values[f.name] = v
    for c in section.checks:
        if failed.isdisjoint(c.fields):
            for where, message in c.fn(values, ctx):
                issues.append(Issue(join(prefix, where), message))
    return values


def _build(section: Section, values: dict[str, Any]) -> Any:
    """Turn clean parsed values into the section's objects, nested ones first."""
    out = dict(values)
    for f in section.fields:
        v = out[f.name]
        if isinstance(f.type, Table) and v is not None:
            out[f.name] = _build(f.type.section, v)
        elif isinstance(f.type, Tables) and v is not None:
            out[f.name] = [_build(f.type.section, e) for e in v]
    return section.make(out) if section.make else out


def parse(section: Section, table: Any, prefix: str | None = None,
          ctx: Mapping[str, Any] | None = None) -> tuple[Any, list[Issue]]:
    """(values, issues): the checked values of `table` (plain data, bad ones replaced by their
    defaults) and every problem found, each with its path under `prefix` (default: the section's
    name; "" for a whole file)."""
    issues: list[Issue] = []
    values = _parse_section(section, table, section.name if prefix is None else prefix, issues, ctx or {})
    return (None if values is _BAD else values), issues


def build(section: Section, values: dict[str, Any]) -> Any:
    """The section's object from values `parse` found clean."""
    return _build(section, values)


def load(section: Section, table: Any, source: str, prefix: str | None = None,
         ctx: Mapping[str, Any] | None = None) -> Any:
    """The section's object, or ConfigError(source) naming every problem."""
    values, issues = parse(section, table, prefix, ctx)
    if issues:
        raise ConfigError(source, issues)
    return build(section, values)


# --- reference -------------------------------------------------------------------------------

def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + " }" if v else "{}"
    return repr(v)


def describe(section: Section, prefix: str | None = None, *, array: bool = False) -> list[str]:
    """The section as a commented TOML reference: every field with its default (or, commented
    out, an example), what it must be and what it does; nested tables after it."""
    name = section.name if prefix is None else prefix
    lines: list[str] = []
    if name:
        lines.append(f"[[{name}]]" if array else f"[{name}]")
    if section.description:
        lines.append(f"# {section.description}")
    nested: list[tuple[Field, Table | Tables]] = []
    for f in section.fields:
        if isinstance(f.type, (Table, Tables)):
            nested.append((f, f.type))
            continue
        if f.default is REQUIRED:
            # Commented out without an example, so that the reference itself stays valid TOML.
            lhs = f"{f.name} = {_toml(f.example)}" if f.example is not None else f"# {f.name} = …"
            note = "required; "
        elif f.default is None:
            lhs = f"# {f.name} = {_toml(f.example) if f.example is not None else '…'}"
            note = "optional; "
        else:
            lhs = f"{f.name} = {f.type.example(f.default)}"
            note = ""
        alias = f" (also: {', '.join(f.aliases)})" if f.aliases else ""
        lines.append(f"{lhs:<34} # {note}{f.type.label}{alias} — {f.description}".rstrip(" —"))
    for f, t in nested:
        lines.append("")
        sub = describe(t.section, join(name, f.name), array=isinstance(t, Tables))
        if f.description:
            sub.insert(1, f"# {f.description}")
        lines += sub
    return lines
