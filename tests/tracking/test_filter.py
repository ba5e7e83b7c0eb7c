"""The filter language: tokens, errors that point at the offending token, and (with
Hypothesis) parsing of generated filters and agreement with a reference evaluation."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

import shipyard as sy
from shipyard.errors import InvalidFilter, InvalidInput
from shipyard.tracking._filter import NUMBER, compile_filter, parse_order_by, tokenize

OPS = ["=", "==", "!=", "<>", "<", "<=", ">", ">="]


def kinds(text: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in tokenize(text)]


def parse(text: str) -> str:
    """The filter compiled to SQL for both backends (the PostgreSQL form is returned)."""
    expr = compile_filter(text)
    str(expr.compile(dialect=sqlite.dialect()))
    return str(expr.compile(dialect=postgresql.dialect()))


def quote(value: str, mark: str = "'") -> str:
    return mark + value.replace(mark, mark * 2) + mark


# -- tokens ----------------------------------------------------------------------------


def test_tokens_of_a_filter():
    assert kinds("metrics.auc>=0.9 AND params.`learning rate` in ('a', \"b\")") == [
        ("field", "metrics.auc"),
        ("op", ">="),
        ("number", "0.9"),
        ("keyword", "and"),
        ("field", "params.`learning rate`"),
        ("keyword", "in"),
        ("punct", "("),
        ("string", "'a'"),
        ("punct", ","),
        ("string", '"b"'),
        ("punct", ")"),
        ("end", ""),
    ]
    assert [t.pos for t in tokenize("a  =  'x'")] == [0, 3, 6, 9]


@pytest.mark.parametrize(
    ("literal", "value"),
    [("'it''s'", "it's"), ('"say ""hi"""', 'say "hi"'), ("''", ""), ("'a\"b'", 'a"b')],
)
def test_string_literals(literal, value):
    (token, _) = tokenize(literal)
    assert (token.kind, token.value) == ("string", value)


@pytest.mark.parametrize(
    ("clause", "key", "descending"),
    [
        ("metrics.auc desc", "auc", True),
        ("metrics.auc", "auc", False),
        ("params.`learning rate` ASC", "learning rate", False),
        ("start_time DESC", "start_time", True),
    ],
)
def test_order_by_clauses(clause, key, descending):
    field, desc = parse_order_by(clause)
    assert (field.key, desc) == (key, descending)


# -- errors point at the offending token -----------------------------------------------

BAD_FILTERS = [
    # (filter, offending text: its first occurrence is where the caret must point)
    ("metrics.auc > ", "<end>"),
    ("metrics.auc > 0.9 and", "<end>"),
    ("metrics.auc >> 1", "> 1"),
    ("metrics.auc > 'high'", "'high'"),
    ("metrics.auc like '%x'", "'%x'"),
    ("metrics.auc in (0.9, 'x')", "'x'"),
    ("metrics.auc in 0.9", "0.9"),
    ("metrics.auc in (0.9 0.8)", "0.8"),
    ("metrics.auc ~ 1", "~"),
    ("metrics.auc > 1 $ 2", "$"),
    ("params.lr = 0.1 metrics.auc > 1", "metrics.auc"),
    ("(metrics.auc > 1", "<end>"),
    ("metrics.auc > 1)", ")"),
    ("foo.bar = 1", "foo"),
    ("colour = 'red'", "colour"),
    ("status = 'done'", "'done'"),
    ("params.model like 5", "5"),
    ("params.model = lgbm", "lgbm"),
    ("params.model is 'x'", "'x'"),
    ("params.model not = 'x'", "= 'x'"),
    ("params.model not is null", "is"),
    ("and metrics.auc > 1", "and"),
    ("start_time > 'yesterday'", "'yesterday'"),
    ("params.x = 'unterminated", "'unterminated"),
    ("", "<end>"),
    ("metrics.auc", "<end>"),
]


@pytest.mark.parametrize(("text", "offending"), BAD_FILTERS)
def test_invalid_filter_points_at_the_offending_token(text, offending):
    with pytest.raises(InvalidFilter) as info:
        compile_filter(text)
    error = info.value
    expected = len(text) if offending == "<end>" else text.index(offending)
    assert error.position == expected
    assert error.text == text
    assert isinstance(error, InvalidInput)  # callers may catch the broader error
    first, shown, pointer = str(error).split("\n")
    assert first  # a sentence saying what was expected
    assert shown == f"  {text}"
    assert pointer.startswith("  " + " " * expected + "^")
    assert set(pointer.strip()) == {"^"}


def test_messages_say_what_was_expected():
    cases = {
        "status = 'done'": "expected one of running, finished, failed, killed",
        "colour = 'red'": "Unknown run attribute 'colour'",
        "foo.bar = 1": "expected metrics., params., tags.",
        "metrics.auc > 'high'": "compare it with a number",
        "metrics.auc": "Expected a comparison operator",
    }
    for text, says in cases.items():
        with pytest.raises(InvalidFilter, match=re.escape(says)):
            compile_filter(text)


# -- Hypothesis: generated filters -----------------------------------------------------

KEY_CHARS = string.ascii_letters + string.digits + "_-./:"
plain_keys = st.text(KEY_CHARS, min_size=1, max_size=12)
quoted_keys = st.text(
    st.characters(blacklist_characters="`", blacklist_categories=("Cs", "Cc")),
    min_size=1,
    max_size=12,
).map(lambda k: f"`{k}`")
keys = plain_keys | quoted_keys
numbers = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=15)
strings = st.one_of(texts.map(quote), texts.map(lambda s: quote(s, '"')))
literals = numbers | strings


def comparison(field: st.SearchStrategy[str], values: st.SearchStrategy[str]):
    single = st.tuples(field, st.sampled_from(OPS), values).map(" ".join)
    listed = st.tuples(
        field, st.sampled_from(["in", "not in", "IN"]), st.lists(values, min_size=1, max_size=4)
    ).map(lambda t: f"{t[0]} {t[1]} ({', '.join(t[2])})")
    null = st.tuples(field, st.sampled_from(["is null", "is not null", "IS NOT NULL"])).map(
        " ".join
    )
    return single | listed | null


metric_prefixes = st.sampled_from(["metrics", "metric", "m", "METRICS"])
metric_fields = st.tuples(metric_prefixes, keys).map(".".join)
text_fields = st.tuples(st.sampled_from(["params", "tags", "p", "t", "tag"]), keys).map(".".join)
comparisons = st.one_of(
    comparison(metric_fields, numbers),
    comparison(text_fields, literals),
    st.tuples(text_fields, st.sampled_from(["like", "not like", "ilike"]), strings).map(" ".join),
    st.tuples(
        st.sampled_from(["status", "attributes.status"]),
        st.sampled_from(["=", "!="]),
        st.sampled_from(["'running'", "'finished'", "'failed'", "'killed'"]),
    ).map(" ".join),
    st.tuples(st.sampled_from(["name", "run_id", "attr.name"]), st.sampled_from(OPS), strings).map(
        " ".join
    ),
    st.tuples(st.sampled_from(["start_time", "end_time"]), st.sampled_from(OPS), numbers).map(
        " ".join
    ),
)


def trees(leaves: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["and", "or", "AND", "Or"]), inner).map(" ".join),
            inner.map(lambda e: f"not {e}"),
            inner.map(lambda e: f"({e})"),
        ),
        max_leaves=6,
    )


@settings(max_examples=300, deadline=None)
@given(trees(comparisons))
def test_any_generated_filter_parses(text):
    parse(text)


@given(texts)
def test_string_literals_round_trip(value):
    for mark in ("'", '"'):
        tokens = tokenize(quote(value, mark))
        assert [t.kind for t in tokens] == ["string", "end"]
        assert tokens[0].value == value


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**15), 10**15))
def test_number_literals_round_trip(number):
    tokens = tokenize(f"metrics.x >= {number!r}")
    assert [t.kind for t in tokens] == ["field", "op", "number", "end"]
    assert tokens[2].value == float(number)


@given(st.lists(comparisons, min_size=1, max_size=4), st.data())
def test_a_stray_character_is_pointed_at(parts, data):
    """Insert a character no token starts with between two comparisons: the caret is on it."""
    stray = data.draw(st.sampled_from("$~@#;?!{}[]&|^%*"))
    at = data.draw(st.integers(0, len(parts)))
    head = " and ".join(parts[:at])
    text = (head + " " if head else "") + stray + " " + " and ".join(parts[at:])
    with pytest.raises(InvalidFilter) as info:
        compile_filter(text)
    assert info.value.position == len(head + " " if head else "")


# -- Hypothesis: search agrees with a reference evaluation, on both backends ----------

MODELS = ["lgbm", "LGBM", "xgb", "rf_2", "50%"]
RATES = ["0.1", "0.01", "1e-3", "10", "-2.5", "2024-01-01", "1.2.3", "e5", "+.5"]
AUCS = [0.5, 0.7, 0.9, 1e-9]
#: name -> (metrics, params); a missing key means never logged.
DATA = {
    "r0": ({"auc": 0.5, "loss": 2.0}, {"model": "lgbm", "lr": "0.1"}),
    "r1": ({"auc": 0.9}, {"model": "LGBM", "lr": "10"}),
    "r2": ({"auc": 0.7, "loss": 0.25}, {"model": "xgb"}),
    "r3": ({}, {"model": "rf_2", "lr": "1e-3"}),
    "r4": ({"loss": -1.0}, {"lr": "-2.5"}),
    "r5": ({"auc": 1e-9}, {"model": "50%", "lr": "0.01"}),
    "r6": ({}, {"lr": "2024-01-01"}),  # text: never a number, on any backend
    "r7": ({}, {"lr": "1.2.3"}),
    "r8": ({}, {"lr": "e5"}),
    "r9": ({}, {"lr": "+.5"}),
}


def like(value: str, pattern: str, case: bool) -> bool:
    """SQL LIKE: ``%`` any text, ``_`` one character, ``\\`` escapes the next character."""
    parts = re.findall(r"\\.|.", pattern, re.DOTALL)
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c[-1]) for c in parts)
    flags = re.DOTALL if case else re.DOTALL | re.IGNORECASE
    return re.fullmatch(regex, value, flags) is not None


def reference(node, metrics: dict[str, float], params: dict[str, str]) -> bool:
    kind = node[0]
    if kind == "and":
        return reference(node[1], metrics, params) and reference(node[2], metrics, params)
    if kind == "or":
        return reference(node[1], metrics, params) or reference(node[2], metrics, params)
    if kind == "not":
        return not reference(node[1], metrics, params)
    _, field, op, value = node
    source = metrics if field.startswith("metrics.") else params
    key = field.split(".", 1)[1]
    if op == "is null":
        return key not in source
    if op == "is not null":
        return key in source
    if key not in source:
        return False
    have = source[key]
    if op == "in":
        return have in value
    if op == "not in":
        return have not in value
    if op in ("like", "ilike"):
        return like(have, value, case=op == "like")
    if isinstance(value, float) and isinstance(have, str):  # a param compared as a number
        if not re.search(NUMBER, have):
            return False
        have = float(have)
    return {
        "=": have == value,
        "==": have == value,
        "!=": have != value,
        "<>": have != value,
        "<": have < value,
        "<=": have <= value,
        ">": have > value,
        ">=": have >= value,
    }[op]


def render(node) -> str:
    kind = node[0]
    if kind in ("and", "or"):
        return f"({render(node[1])} {kind} {render(node[2])})"
    if kind == "not":
        return f"not {render(node[1])}"
    _, field, op, value = node
    if op in ("is null", "is not null"):
        return f"{field} {op}"
    if op in ("in", "not in"):
        return f"{field} {op} ({', '.join(lit(v) for v in value)})"
    return f"{field} {op} {lit(value)}"


def lit(value: float | str) -> str:
    return repr(value) if isinstance(value, float) else quote(value)


metric_leaf = st.one_of(
    st.tuples(
        st.just("leaf"),
        st.sampled_from(["metrics.auc", "metrics.loss"]),
        st.sampled_from(OPS),
        st.sampled_from([*AUCS, 0.0, 2.0, -1.0, 0.25]),
    ),
    st.tuples(
        st.just("leaf"),
        st.just("metrics.auc"),
        st.sampled_from(["in", "not in"]),
        st.lists(st.sampled_from(AUCS), min_size=1, max_size=3),
    ),
)
param_leaf = st.one_of(
    st.tuples(
        st.just("leaf"),
        st.sampled_from(["params.model", "params.lr"]),
        st.sampled_from(["=", "!="]),
        st.sampled_from(MODELS + RATES + ["nope"]),
    ),
    st.tuples(
        st.just("leaf"),
        st.just("params.lr"),
        st.sampled_from(["<", "<=", ">", ">="]),
        st.sampled_from([0.1, 0.0, 10.0, -3.0, 0.001, 1.0, 2000.0]),
    ),
    st.tuples(
        st.just("leaf"),
        st.sampled_from(["params.model", "params.lr"]),
        st.sampled_from(["in", "not in"]),
        st.lists(st.sampled_from(MODELS + RATES), min_size=1, max_size=3),
    ),
    st.tuples(
        st.just("leaf"),
        st.just("params.model"),
        st.sampled_from(["like", "ilike"]),
        st.sampled_from(["lg%", "LG%", "%b%", "_gb", "rf\\_%", "rf\\%", "%", "x%", "50\\%", "5_%"]),
    ),
)
null_leaf = st.tuples(
    st.just("leaf"),
    st.sampled_from(["metrics.auc", "metrics.loss", "params.model", "params.lr"]),
    st.sampled_from(["is null", "is not null"]),
    st.none(),
)
reference_trees = st.recursive(
    metric_leaf | param_leaf | null_leaf,
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["and", "or"]), inner, inner),
        st.tuples(st.just("not"), inner),
    ),
    max_leaves=5,
)


def test_search_agrees_with_a_reference_evaluation(backend):
    ids = {}
    for name, (metrics, params) in DATA.items():
        with sy.start_run(experiment="reference", name=name) as run:
            run.log_params(params)
            run.log_metrics(metrics)
            ids[name] = run.id

    @settings(
        max_examples=120,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(reference_trees)
    def agrees(tree):
        expected = {n for n, (m, p) in DATA.items() if reference(tree, m, p)}
        frame = sy.search_runs("reference", filter=render(tree))
        assert set(frame["name"]) == expected, render(tree)

    agrees()


def test_like_is_case_sensitive_on_every_backend(backend):
    with sy.start_run(experiment="like") as run:
        run.log_param("model", "lgbm")
    frame = sy.search_runs("like", filter="params.model like 'LG%'")
    assert frame.empty
    assert len(sy.search_runs("like", filter="params.model ilike 'LG%'")) == 1
    assert len(sy.search_runs("like", filter="params.model like 'lg%'")) == 1
