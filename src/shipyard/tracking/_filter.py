"""The run search language: a small filter grammar compiled to SQL, and order-by clauses.

Grammar (keywords are case-insensitive)::

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | comparison
    comparison := field op value
                | field ["not"] "in" "(" value ("," value)* ")"
                | field ["not"] ("like" | "ilike") string
                | field "is" ["not"] "null"
    field      := ("metrics" | "params" | "tags") "." key | ["attributes" "."] attribute
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="

Keys with spaces or other characters are quoted with backticks: ``metrics.`val loss```.
A comparison on a metric, param or tag matches only runs that have it (``!=``, ``not in``
and ``not like`` too); ``not`` before a comparison negates it for every run. In ``like``
patterns ``%`` and ``_`` are wildcards and ``\\`` escapes them, on every backend.
Attributes: ``status``, ``name``, ``run_id``, ``parent_id``, ``start_time``, ``end_time``
(epoch seconds or an ISO date). Params and tags compare as text, or as numbers when the
literal is a number and the operator orders (``params.lr > 0.01``).

Limits: a filter holds at most :data:`MAX_COMPARISONS` comparisons, nests parentheses and
``not`` at most :data:`MAX_DEPTH` deep, lists at most :data:`MAX_IN_VALUES` values after
``in`` and is at most :data:`MAX_LENGTH` characters long. Each is checked while parsing,
before any SQL is built: past them the recursive parser would exhaust the Python stack and
the database would refuse the statement (SQLite's expression depth, bound-parameter counts),
so the caller gets one :class:`InvalidFilter` naming the limit instead.

Written by hand: no well-kept library parses a query language this small into SQLAlchemy
expressions, and a hand-written parser can point at the exact offending token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Float, and_, case, cast, false, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from shipyard.errors import InvalidFilter
from shipyard.tracking._tables import LATEST, PARAMS, RUN_STATUSES, RUNS, TAGS

#: Most comparisons in one filter (``a = 1 or b = 2`` holds two). PostgreSQL plans an
#: ``and`` of many correlated EXISTS superlinearly: 64 plan in 0.3 s, 128 in 2 s, 256 in 68 s.
MAX_COMPARISONS = 64
#: Deepest nesting of parentheses and ``not``.
MAX_DEPTH = 32
#: Most values in one ``in (...)`` list.
MAX_IN_VALUES = 1000
#: Longest filter, in characters.
MAX_LENGTH = 32_768

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![A-Za-z_])
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<field>[A-Za-z_][A-Za-z0-9_]*(?:\.(?:`[^`]+`|[A-Za-z0-9_\-./:]+))?)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "like", "ilike", "is", "null"}
_PREFIXES = {
    "metrics": "metrics",
    "metric": "metrics",
    "m": "metrics",
    "params": "params",
    "param": "params",
    "p": "params",
    "tags": "tags",
    "tag": "tags",
    "t": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
ATTRIBUTES = {
    "status": RUNS.c.status,
    "name": RUNS.c.name,
    "run_id": RUNS.c.id,
    "id": RUNS.c.id,
    "parent_id": RUNS.c.parent_id,
    "start_time": RUNS.c.start_time,
    "end_time": RUNS.c.end_time,
}
_TIME_ATTRIBUTES = {"start_time", "end_time"}


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, field, op, punct, keyword, end
    text: str
    pos: int

    @property
    def value(self) -> Any:
        if self.kind == "number":
            return float(self.text)
        if self.kind == "string":
            quote = self.text[0]
            return self.text[1:-1].replace(quote * 2, quote)
        return self.text


@dataclass(frozen=True)
class Field:
    """A resolved reference such as ``metrics.auc`` or the attribute ``status``."""

    kind: str  # metrics, params, tags, attributes
    key: str
    token: Token


def tokenize(text: str) -> list[Token]:
    """Split a filter into tokens; an unknown character is reported where it stands."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise InvalidFilter(f"Unexpected character {text[pos]!r}", text, pos)
        kind = match.lastgroup or ""
        if kind != "ws":
            word = match.group()
            if kind == "field" and word.lower() in _KEYWORDS:
                kind, word = "keyword", word.lower()
            tokens.append(Token(kind, word, pos))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def resolve_field(token: Token, text: str) -> Field:
    """``metrics.auc`` -> Field('metrics', 'auc'); bare names are attributes."""
    prefix, dot, key = token.text.partition(".")
    if not dot:
        prefix, key = "attributes", token.text
    kind = _PREFIXES.get(prefix.lower())
    if kind is None:
        raise InvalidFilter(
            f"Unknown field prefix {prefix!r}; expected metrics., params., tags. or an "
            f"attribute ({', '.join(sorted(ATTRIBUTES))})",
            text,
            token.pos,
            len(prefix),
        )
    if key.startswith("`") and key.endswith("`"):
        key = key[1:-1]
    if kind == "attributes" and key not in ATTRIBUTES:
        raise InvalidFilter(
            f"Unknown run attribute {key!r}; expected one of {', '.join(sorted(ATTRIBUTES))}",
            text,
            token.pos,
            len(token.text),
        )
    return Field(kind, key, token)


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_LENGTH:
            raise InvalidFilter(
                f"The filter is {len(text)} characters long; at most {MAX_LENGTH} are accepted",
                text[:60] + "...",
                60,
            )
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0  # inside parentheses or 'not'
        self.comparisons = 0
        #: (kind, key) of fields every matching run must have: top-level 'and' comparisons.
        self.required: set[tuple[str, str]] = set()

    def note_required(self, field: Field, op: str) -> None:
        if self.depth == 0 and not op.startswith("not "):
            self.required.add((field.kind, field.key))

    def parse(self) -> ColumnElement[bool]:
        if self.peek.kind == "end":
            raise InvalidFilter("The filter is empty", self.text, 0)
        expr = self.expr()
        if self.peek.kind != "end":
            self.fail(f"Expected 'and', 'or' or the end of the filter, found {self.peek.text!r}")
        return expr

    @property
    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        token = self.peek
        if token.kind == kind and (text is None or token.text == text):
            self.i += 1
            return token
        return None

    def fail(self, message: str, token: Token | None = None) -> None:
        token = token or self.peek
        raise InvalidFilter(message, self.text, token.pos, max(1, len(token.text)))

    def expr(self) -> ColumnElement[bool]:
        parts = [self.term()]
        while self.accept("keyword", "or"):
            parts.append(self.term())
        if len(parts) > 1 and self.depth == 0:
            self.required.clear()  # 'a or b': neither field is required
        return parts[0] if len(parts) == 1 else or_(*parts)

    def term(self) -> ColumnElement[bool]:
        parts = [self.factor()]
        while self.accept("keyword", "and"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else and_(*parts)

    def enter(self) -> None:
        """One level deeper into parentheses or ``not``; refused past :data:`MAX_DEPTH`."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"The filter nests parentheses and 'not' deeper than {MAX_DEPTH} levels")

    def factor(self) -> ColumnElement[bool]:
        if self.accept("keyword", "not"):
            self.enter()
            negated = not_(self.factor())
            self.depth -= 1
            return negated
        if self.accept("punct", "("):
            self.enter()
            inner = self.expr()
            self.depth -= 1
            if not self.accept("punct", ")"):
                self.fail(f"Expected ')' to close the group, found {self.peek.text or 'the end'!r}")
            return inner
        return self.comparison()

    def comparison(self) -> ColumnElement[bool]:
        token = self.peek
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            self.fail(f"The filter holds more than {MAX_COMPARISONS} comparisons")
        if token.kind != "field":
            self.fail(
                f"Expected a field such as metrics.auc or params.model, found "
                f"{token.text or 'the end'!r}"
            )
        field = resolve_field(self.take(), self.text)
        negate = bool(self.accept("keyword", "not"))
        is_token = self.accept("keyword", "is")
        if is_token:
            if negate:
                self.fail("Write 'is not null', not 'not is'", is_token)
            is_not = bool(self.accept("keyword", "not"))
            if not self.accept("keyword", "null"):
                self.fail("Expected 'null' after 'is'")
            return self.presence(field, present=is_not)
        if self.accept("keyword", "in"):
            values = self.value_list()
            return self.condition(field, "not in" if negate else "in", values)
        for word in ("like", "ilike"):
            if self.accept("keyword", word):
                value = self.take()
                if value.kind != "string":
                    self.fail(f"'{word}' takes a quoted pattern such as '%lgbm%'", value)
                return self.condition(field, f"not {word}" if negate else word, [value])
        if negate:
            self.fail("Expected 'in', 'like' or 'ilike' after 'not'")
        op = self.accept("op")
        if op is None:
            self.fail(
                f"Expected a comparison operator (=, !=, <, <=, >, >=, in, like) after "
                f"{field.token.text!r}, found {self.peek.text or 'the end'!r}"
            )
            raise AssertionError  # unreachable: fail() raises
        value = self.take()
        if value.kind not in ("number", "string"):
            self.fail(
                f"Expected a number or a quoted string after {op.text!r}, found "
                f"{value.text or 'the end'!r}",
                value,
            )
        return self.condition(field, op.text, [value])

    def value_list(self) -> list[Token]:
        if not self.accept("punct", "("):
            self.fail("Expected '(' to start the list after 'in'")
        values = []
        while True:
            value = self.take()
            if value.kind not in ("number", "string"):
                self.fail(
                    f"Expected a number or quoted string in the list, found "
                    f"{value.text or 'the end'!r}",
                    value,
                )
            values.append(value)
            if len(values) > MAX_IN_VALUES:
                self.fail(f"An 'in' list holds at most {MAX_IN_VALUES} values", value)
            if self.accept("punct", ")"):
                return values
            if not self.accept("punct", ","):
                self.fail("Expected ',' or ')' in the list")

    def presence(self, field: Field, *, present: bool) -> ColumnElement[bool]:
        if field.kind == "attributes":
            column = ATTRIBUTES[field.key]
            return column.is_not(None) if present else column.is_(None)
        table = {"metrics": LATEST, "params": PARAMS, "tags": TAGS}[field.kind]
        has = _has(table, field.key)
        return has if present else not_(has)

    def condition(self, field: Field, op: str, values: list[Token]) -> ColumnElement[bool]:
        if field.kind == "attributes":
            return self.attribute_condition(field, op, values)
        if field.kind == "metrics":
            for value in values:
                if value.kind != "number":
                    self.fail(
                        f"{field.token.text} is a number; compare it with a number, "
                        f"not {value.text}",
                        value,
                    )
            if op.endswith("like"):
                self.fail(f"'{op}' compares text; {field.token.text} is a number", field.token)
            self.note_required(field, op)
            return _has(LATEST, field.key, _compare(LATEST.c.value, op, [v.value for v in values]))
        table = PARAMS if field.kind == "params" else TAGS
        column: Any = table.c.value
        ordering = op in ("<", "<=", ">", ">=")
        if ordering and values[0].kind == "number":
            column = numeric_text(column)
            operands: list[Any] = [v.value for v in values]
        else:
            operands = [v.text if v.kind == "number" else v.value for v in values]
        self.note_required(field, op)
        return _has(table, field.key, _compare(column, op, operands))

    def attribute_condition(
        self, field: Field, op: str, values: list[Token]
    ) -> ColumnElement[bool]:
        column = ATTRIBUTES[field.key]
        operands: list[Any] = []
        for value in values:
            if field.key in _TIME_ATTRIBUTES:
                operands.append(self.epoch(value))
                continue
            if (
                field.key == "status"
                and not op.endswith("like")
                and (value.value not in RUN_STATUSES)
            ):
                self.fail(
                    f"Run status {value.value!r} does not exist; expected one of "
                    f"{', '.join(RUN_STATUSES)}",
                    value,
                )
            operands.append(value.text if value.kind == "number" else value.value)
        return _compare(column, op, operands)

    def epoch(self, token: Token) -> float:
        if token.kind == "number":
            return float(token.value)
        try:
            moment = datetime.fromisoformat(str(token.value))
        except ValueError:
            self.fail("Expected epoch seconds or an ISO date such as '2026-11-26T09:00'", token)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()


def _compare(column: Any, op: str, operands: list[Any]) -> ColumnElement[bool]:
    first = operands[0] if operands else None
    if op in ("=", "=="):
        return column == first  # type: ignore[no-any-return]
    if op in ("!=", "<>"):
        return column != first  # type: ignore[no-any-return]
    if op == "<":
        return column < first  # type: ignore[no-any-return]
    if op == "<=":
        return column <= first  # type: ignore[no-any-return]
    if op == ">":
        return column > first  # type: ignore[no-any-return]
    if op == ">=":
        return column >= first  # type: ignore[no-any-return]
    if op == "in":
        return column.in_(operands) if operands else false()
    if op == "not in":
        return column.not_in(operands) if operands else true()
    if op == "like":
        return column.like(first, escape="\\")  # type: ignore[no-any-return]
    if op == "ilike":
        return column.ilike(first, escape="\\")  # type: ignore[no-any-return]
    if op == "not like":
        return column.not_like(first, escape="\\")  # type: ignore[no-any-return]
    if op == "not ilike":
        return column.not_ilike(first, escape="\\")  # type: ignore[no-any-return]
    raise AssertionError(op)


def compile_filter(text: str) -> ColumnElement[bool]:
    """A SQL condition on runs for ``text``; :class:`InvalidFilter` points at a bad token."""
    return _Parser(text).parse()


def analyze_filter(text: str) -> tuple[ColumnElement[bool], set[tuple[str, str]]]:
    """The condition, and the (kind, key) fields that every matching run must have."""
    parser = _Parser(text)
    return parser.parse(), parser.required


def _has(table: Any, key: str, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """The run has ``key`` in ``table`` (with a value meeting ``conditions``).

    A correlated EXISTS: each run is probed through the (run_id, key) primary key, so a page
    in start-time order reads only as many rows as it needs, never the whole match set.
    """
    return (
        select(table.c.run_id)
        .where(table.c.run_id == RUNS.c.id, table.c.key == key, *conditions)
        .exists()
    )


#: Text that is a number, in the syntax PostgreSQL's regular expressions and Python's ``re``
#: (SQLAlchemy's REGEXP on SQLite) read alike. Bounded (at most 100 integer digits, a
#: two-digit exponent) so that every match fits a double: '1e999' is text, not an overflow.
NUMBER = r"\A[-+]?([0-9]{1,100}\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,2})?\Z"


def numeric_text(column: Any) -> ColumnElement[Any]:
    """A safe text-to-float conversion: NULL (not an error) where the text is no number.

    One pattern decides on every backend, so a param compares as a number, or not, alike on
    SQLite (whose CAST turns '2024-01-01' into 2024.0) and PostgreSQL.
    """
    return case((column.regexp_match(NUMBER), cast(column, Float)), else_=None)


def parse_order_by(clause: str) -> tuple[Field, bool]:
    """``"metrics.auc desc"`` -> (Field, descending)."""
    tokens = tokenize(clause)
    if not tokens or tokens[0].kind != "field":
        raise InvalidFilter(
            "Expected a field to order by, such as 'metrics.auc desc'", clause, 0, len(clause) or 1
        )
    field = resolve_field(tokens[0], clause)
    rest = [t for t in tokens[1:] if t.kind != "end"]
    descending = False
    if rest:
        word = rest[0].text.lower()
        if len(rest) > 1 or word not in ("asc", "desc"):
            raise InvalidFilter(
                "Expected 'asc' or 'desc' after the field", clause, rest[0].pos, len(rest[0].text)
            )
        descending = word == "desc"
    return field, descending
