"""What a dataset profile holds: per-column statistics, as immutable JSON-safe values.

Computed by :func:`shipyard.data._profile.profile`; serialized with ``to_dict``/``from_dict``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypedDict

from shipyard.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EXACT_ROWS", "KINDS", "QUANTILES", "ColumnProfile", "Histogram", "Profile", "type_name"]

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
"""Quantiles every numeric column reports, keyed ``"0.01"`` … ``"0.99"``."""
EXACT_ROWS = 100_000
"""Above this many rows, distinct counts and quantiles are approximate."""
KINDS = ("numeric", "categorical", "boolean", "datetime", "other")
FORMAT = 1  # version of the ``to_dict`` layout
QUANTILE_KEYS = tuple(f"{q:g}" for q in QUANTILES)


class Histogram(TypedDict):
    """Counts of a numeric column's values in ``len(counts)`` fixed-width bins.

    Bin ``i`` holds ``edges[i] <= x < edges[i + 1]``; the last bin also holds ``x == max``
    (as :func:`numpy.histogram` does with these edges). A constant column has one bin
    with ``edges == [v, v]``.
    """

    edges: list[float]
    counts: list[int]


@dataclass(frozen=True)
class ColumnProfile:
    """Statistics of one column; immutable, JSON-safe (no NaN or infinity anywhere).

    Attributes:
        name: column name.
        type: Arrow type as a string (``"int64"``, ``"double"``, ``"large_string"``,
            ``"dictionary<values=string, indices=int8, ordered=0>"``, ``"timestamp[ns]"``).
        kind: ``"numeric"``, ``"categorical"`` (strings, dictionaries), ``"boolean"``,
            ``"datetime"`` (timestamps, dates) or ``"other"``.
        count: values present (``count + missing`` is the number of rows).
        missing: nulls, plus NaN in floating-point columns.
        distinct: distinct values present (an estimate when ``approximate``).
        min: smallest finite value (numeric: float; datetime: ISO 8601 string; else None).
        max: largest finite value, as ``min``.
        mean: mean of the finite values (numeric only).
        std: sample standard deviation (``ddof=1``) of the finite values (numeric only).
        quantiles: ``{"0.01": …, "0.99": …}`` of the finite values, linear interpolation
            (numeric only, else empty).
        histogram: fixed-width bins between ``min`` and ``max`` (numeric with a finite
            value, else None).
        top: up to ``top_k`` most frequent values with counts, most frequent first, ties by
            value (categorical and boolean; booleans as ``"true"``/``"false"``).
        infinite: how many values are ``±inf`` (counted in ``count`` and the histogram's
            outer bins, not in ``min``/``max``/``mean``/``std``/quantiles).
        approximate: whether ``distinct`` and ``quantiles`` are estimates.
    """

    name: str
    type: str
    kind: str
    count: int
    missing: int
    distinct: int
    min: float | str | None = None
    max: float | str | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    histogram: Histogram | None = None
    top: list[tuple[str, int]] = field(default_factory=list)
    infinite: int = 0
    approximate: bool = False

    @property
    def type_name(self) -> str:
        """The type in plain words, as tables show it (:func:`type_name`)."""
        return type_name(self.type)


def type_name(arrow_type: str) -> str:
    """An Arrow type (as ``str(pa.DataType)``) in plain words: ``category`` (dictionary),
    ``string``, ``int64``, ``float64``, ``bool``, ``datetime`` (``datetime UTC`` with a
    zone), ``date``, ``time``, ``duration``, ``binary``, ``list``, ``struct``...; another
    type as it is.

    Example:
        >>> type_name("dictionary<values=large_string, indices=int8, ordered=0>")
        'category'
        >>> type_name("double"), type_name("timestamp[us, tz=UTC]"), type_name("date32[day]")
        ('float64', 'datetime UTC', 'date')
    """
    head, _, rest = arrow_type.partition("[")
    head = head.partition("<")[0].partition("(")[0]
    if head == "timestamp":
        zone = rest.rstrip("]").partition("tz=")[2]
        return f"datetime {zone}" if zone else "datetime"
    if head.startswith("decimal"):
        return "decimal" + arrow_type[len(head) :]
    return _PLAIN.get(head, arrow_type)


_PLAIN = {
    "dictionary": "category",
    **dict.fromkeys(("string", "large_string", "utf8", "large_utf8", "string_view"), "string"),
    **dict.fromkeys(("binary", "large_binary", "binary_view", "fixed_size_binary"), "binary"),
    "bool": "bool",
    "halffloat": "float16",
    "float": "float32",
    "double": "float64",
    **dict.fromkeys(("date32", "date64"), "date"),
    **dict.fromkeys(("time32", "time64"), "time"),
    "duration": "duration",
    **dict.fromkeys(("list", "large_list", "fixed_size_list", "list_view"), "list"),
    "struct": "struct",
    "map": "map",
    "null": "null",
}


@dataclass(frozen=True)
class Profile:
    """Per-column statistics of a table: what the profile functions return.

    Attributes:
        rows: number of rows.
        columns: one :class:`ColumnProfile` per column, in table order.

    Example:
        >>> import pyarrow as pa
        >>> from shipyard.data import profile
        >>> p = profile(pa.table({"x": [1.0, 2.0, None]}))
        >>> p.rows, p.column("x").missing, p.column("x").mean
        (3, 1, 1.5)
    """

    rows: int
    columns: list[ColumnProfile]

    def column(self, name: str) -> ColumnProfile:
        """Return the profile of the column called ``name``.

        Args:
            name: a column name.

        Returns:
            That column's profile.

        Raises:
            NotFound: no column has that name (the message lists the known ones).
        """
        for column in self.columns:
            if column.name == name:
                return column
        known = ", ".join(repr(c.name) for c in self.columns) or "none"
        raise NotFound(f"The profile has no column {name!r}; its columns are: {known}.")

    def to_dict(self) -> dict[str, Any]:
        """Return the profile as plain JSON-safe data (``from_dict`` reads it back exactly).

        Returns:
            ``{"format": 1, "rows": …, "columns": [{…}, …]}``; ``top`` entries are
            ``[value, count]`` lists.
        """
        columns = []
        for column in self.columns:
            item = asdict(column)
            item["top"] = [[value, n] for value, n in column.top]
            columns.append(item)
        return {"format": FORMAT, "rows": self.rows, "columns": columns}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Rebuild a profile from :meth:`to_dict` output (for example after JSON).

        Args:
            data: the mapping ``to_dict`` returned.

        Returns:
            An equal profile.

        Raises:
            InvalidInput: the mapping is not a profile this version can read.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise InvalidInput(f"Expected a profile dict with format {FORMAT}, got {got!r}.")
        known = {f.name for f in fields(ColumnProfile)} - {"top"}
        try:
            columns = [
                ColumnProfile(
                    **{key: value for key, value in item.items() if key in known},
                    top=[(str(value), int(n)) for value, n in item.get("top", [])],
                )
                for item in data["columns"]
            ]
            return cls(rows=int(data["rows"]), columns=columns)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"Malformed profile dict: {exc!r}.") from exc

    def to_frame(self) -> pd.DataFrame:
        """Return one row per column: the scalar statistics and one column per quantile.

        Returns:
            A DataFrame indexed by column name with ``type``, ``kind``, ``count``,
            ``missing``, ``distinct``, ``min``, ``max``, ``mean``, ``std``, ``q0.01`` …
            ``q0.99`` and ``top`` (the most frequent value).
        """
        import pandas as pd

        scalars = ["name", "type", "kind", "count", "missing", "distinct"]
        scalars += ["min", "max", "mean", "std"]
        records = [
            [getattr(c, s) for s in scalars]
            + [c.quantiles.get(k) for k in QUANTILE_KEYS]
            + [c.top[0][0] if c.top else None]
            for c in self.columns
        ]
        columns = [*scalars, *(f"q{k}" for k in QUANTILE_KEYS), "top"]
        return pd.DataFrame(records, columns=columns).set_index("name")
