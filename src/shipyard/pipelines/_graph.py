"""Steps and the graph a pipeline's body builds by calling them.

``@step`` wraps a function in a :class:`Step`. Called inside a pipeline's body (while
:func:`build` runs it), a step runs nothing: it adds a :class:`Node` to the graph and returns
an :class:`Output`, a placeholder for what the step will return, which later calls take as
inputs; that is how data flow wires the DAG. ``output["key"]`` (or ``output[0]``) stands for
one item of it. Outside a pipeline a step is the plain function.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import InvalidInput

__all__ = ["Graph", "Node", "Output", "Step", "StepOptions", "build", "code_hash", "step"]

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


@dataclass(frozen=True)
class StepOptions:
    """How a step runs: retries with exponential back-off, a timeout, caching, resources."""

    retries: int = 0
    retry_delay: float = 1.0  # seconds before the first retry; doubled each time
    timeout: float | None = None  # seconds per attempt
    cache: bool = True
    cpus: float = 1.0
    memory: int | None = None  # bytes
    after: tuple[str, ...] = ()  # steps (by name) every call of this one waits for

    def to_dict(self) -> dict[str, Any]:
        return {
            "retries": self.retries,
            "retry_delay": self.retry_delay,
            "timeout": self.timeout,
            "cache": self.cache,
            "cpus": self.cpus,
            "memory": self.memory,
            "after": list(self.after),
        }


def parse_memory(value: object) -> int | None:
    """``"4GB"``, ``"512MiB"``, ``"1.5G"`` or a number of bytes, as bytes."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"memory must be bytes or a size such as '4GB'; got {value!r}.")
    if isinstance(value, (int, float)) and value > 0:
        return int(value)
    match = _MEMORY.match(value) if isinstance(value, str) else None
    if match is None or float(match.group(1)) <= 0:
        raise InvalidInput(f"memory must be bytes or a size such as '4GB'; got {value!r}.")
    unit = match.group(2).upper()
    base = 1024.0 if "I" in unit else 1.0
    scale = _UNITS[unit[:1]] if base == 1.0 else 1024.0 ** "BKMGT".index(unit[0])
    return int(float(match.group(1)) * scale)


def _check_options(name: str, options: StepOptions) -> StepOptions:
    where = f"step {name!r}"
    if isinstance(options.retries, bool) or not isinstance(options.retries, int):
        raise InvalidInput(f"retries of {where} must be a whole number; got {options.retries!r}.")
    if not 0 <= options.retries <= 100:
        raise InvalidInput(f"retries of {where} must be 0 to 100; got {options.retries}.")
    for label, value, none_ok in (
        ("retry_delay", options.retry_delay, False),
        ("timeout", options.timeout, True),
        ("cpus", options.cpus, False),
    ):
        if value is None and none_ok:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise InvalidInput(f"{label} of {where} must be a number >= 0; got {value!r}.")
    if options.timeout is not None and options.timeout <= 0:
        raise InvalidInput(f"timeout of {where} must be > 0 seconds; got {options.timeout}.")
    if not isinstance(options.cache, bool):
        raise InvalidInput(f"cache of {where} must be true or false; got {options.cache!r}.")
    return options


def code_hash(fn: Callable[..., Any]) -> str:
    """The sha256 of a function's source (its bytecode and constants when there is none)."""
    target = inspect.unwrap(fn)
    try:
        text = inspect.getsource(target).encode()
    except (OSError, TypeError):
        code = getattr(target, "__code__", None)
        text = repr(target).encode() if code is None else _code_text(code)
    return hashlib.sha256(text).hexdigest()


def _code_text(code: types.CodeType) -> bytes:
    """What a code object does, the same in every process: its bytecode, the names it uses
    and its constants, nested code (a comprehension, a lambda) the same way, not by its
    ``repr`` (which holds a memory address)."""
    parts = [code.co_code, repr(code.co_names).encode()]
    for const in code.co_consts:
        nested = isinstance(const, types.CodeType)
        parts.append(_code_text(const) if nested else repr(const).encode())
    return b"\0".join(parts)


class Step:
    """A function that runs as one step of a pipeline (see :func:`step`)."""

    def __init__(self, fn: Callable[..., Any], name: str, options: StepOptions) -> None:
        self.fn = fn
        self.name = name
        self.options = options
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", name)
        self.__qualname__ = getattr(fn, "__qualname__", name)
        self.__module__ = getattr(fn, "__module__", __name__)
        self.__wrapped__ = fn
        # hashed now, from the source the function was just made from: its workers run this
        # function (shipped by value), not the file as it may be edited later
        self.code_hash: str = code_hash(fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = _building.get()
        if builder is None:
            return self.fn(*args, **kwargs)
        return builder.add(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<step {self.name}>"


def step(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    retries: int = 0,
    retry_delay: float = 1.0,
    timeout: float | None = None,
    cache: bool = True,
    cpus: float = 1.0,
    memory: int | str | None = None,
    after: Sequence[str] = (),
) -> Any:
    """Make a function a pipeline step: ``@sy.step`` or ``@sy.step(retries=2, timeout=60)``.

    Args:
        name: the step's name in the graph (default: the function's name).
        retries: attempts after the first when it raises, times out or its process dies.
        retry_delay: seconds before the first retry, doubled for each later one.
        timeout: seconds one attempt may take; past it the attempt is killed.
        cache: reuse the output of an earlier successful run with the same code, inputs
            and parameters.
        cpus, memory: what the step needs (``"4GB"``); the Ray executor reserves them.
        after: names of steps that must finish first though no output links them.

    Raises:
        InvalidInput: an option out of range.
    """

    def wrap(function: Callable[..., Any]) -> Step:
        if not callable(function):
            raise InvalidInput(f"@step decorates a function; got {function!r}.")
        label = name if name is not None else function.__name__
        check_name(label, "step name")
        if isinstance(after, str) or not isinstance(after, (list, tuple)):
            raise InvalidInput(
                f"after of step {label!r} must be a list of step names; got {after!r}."
            )
        waits = tuple(check_name(a, "a step name in after") for a in after)
        options = StepOptions(
            retries, retry_delay, timeout, cache, cpus, parse_memory(memory), waits
        )
        return Step(function, label, _check_options(label, options))

    return wrap if fn is None else wrap(fn)


def check_name(value: object, what: str) -> str:
    """A step or pipeline name: 1 to 128 letters, digits, ``_.-``."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInput(
            f"{what} must be 1 to 128 letters, digits, '_', '.' or '-'; got {value!r}."
        )
    return value


class Output:
    """What a step will return, as seen while the graph is built (or one item of it)."""

    __slots__ = ("items", "node")

    def __init__(self, node: str, items: tuple[str | int, ...] = ()) -> None:
        self.node = node
        self.items = items

    def __getitem__(self, key: str | int) -> Output:
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            raise InvalidInput(
                f"An output of step {self.node!r} is indexed by a name or a position; got {key!r}."
            )
        return Output(self.node, (*self.items, key))

    def __iter__(self) -> Iterator[Any]:
        raise InvalidInput(
            f"The output of step {self.node!r} is not known while the pipeline is built, so "
            "it cannot be unpacked or looped over; index it (out['model'], out[0]) instead."
        )

    def __bool__(self) -> bool:
        raise InvalidInput(
            f"The output of step {self.node!r} is not known while the pipeline is built, so "
            "it cannot decide an 'if'; branch inside a step instead."
        )

    def __str__(self) -> str:
        raise InvalidInput(
            f"The output of step {self.node!r} is not known while the pipeline is built, so "
            "it cannot be put in a string; pass it to a step and format it there."
        )

    def __format__(self, spec: str) -> str:
        return str(self)

    def to_dict(self) -> dict[str, Any]:
        return {"$output": self.node, "items": list(self.items)}

    def __repr__(self) -> str:
        return f"<output of {self.node}{''.join(f'[{i!r}]' for i in self.items)}>"


@dataclass
class Node:
    """One call of a step in the graph: its arguments (constants and outputs) and upstreams."""

    name: str
    step: Step
    arguments: dict[str, Any]  # parameter name -> constant, Output, or a list/dict of them
    upstream: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "step": self.step.name,
            "function": f"{self.step.__module__}:{self.step.__qualname__}",
            "code_hash": self.step.code_hash,
            "upstream": list(self.upstream),
            "inputs": {k: _describe(v) for k, v in self.arguments.items()},
            "options": self.step.options.to_dict(),
        }


def _describe(value: Any) -> Any:
    if isinstance(value, Output):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _describe(v) for k, v in value.items()}
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def outputs_in(value: Any) -> Iterator[Output]:
    """Every :class:`Output` inside ``value`` (itself, or in lists, tuples and dicts)."""
    if isinstance(value, Output):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from outputs_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from outputs_in(item)


@dataclass
class Graph:
    """The steps of one pipeline run, in an order where every step follows its inputs."""

    pipeline: str
    nodes: dict[str, Node] = field(default_factory=dict)
    result: Any = None  # what the body returned (outputs inside it are resolved at the end)

    def add(self, step_: Step, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Output:
        try:
            bound = inspect.signature(step_.fn).bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(f"Step {step_.name!r} called with bad arguments: {exc}.") from None
        arguments = dict(bound.arguments)
        upstream: list[str] = []
        for value in arguments.values():
            for out in outputs_in(value):
                if out.node not in self.nodes:
                    raise InvalidInput(
                        f"Step {step_.name!r} takes an output of {out.node!r}, which is not a "
                        f"step of pipeline {self.pipeline!r}."
                    )
                if out.node not in upstream:
                    upstream.append(out.node)
        label = self._label(step_.name)
        self.nodes[label] = Node(label, step_, arguments, tuple(upstream))
        return Output(label)

    def _label(self, base: str) -> str:
        if base not in self.nodes:
            return base
        count = 2
        while f"{base}-{count}" in self.nodes:
            count += 1
        return f"{base}-{count}"

    def downstream(self) -> dict[str, list[str]]:
        """Each step's direct dependants."""
        below: dict[str, list[str]] = {name: [] for name in self.nodes}
        for node in self.nodes.values():
            for up in node.upstream:
                below[up].append(node.name)
        return below

    def describe(self) -> list[dict[str, Any]]:
        return [node.describe() for node in self.nodes.values()]


_building: ContextVar[Graph | None] = ContextVar("shipyard_pipeline_graph", default=None)


@contextmanager
def _collecting(graph: Graph) -> Iterator[Graph]:
    token = _building.set(graph)
    try:
        yield graph
    finally:
        _building.reset(token)


def building() -> bool:
    """Whether a pipeline's body is being run to build its graph (in this context)."""
    return _building.get() is not None


def build(name: str, body: Callable[..., Any], params: Mapping[str, Any]) -> Graph:
    """Run a pipeline's body with ``params`` to collect its graph.

    Raises:
        InvalidInput: the body called a step wrongly, or called no step at all.
    """
    graph = Graph(name)
    with _collecting(graph):
        graph.result = body(**params)
    if not graph.nodes:
        raise InvalidInput(f"Pipeline {name!r} calls no step: decorate its steps with @sy.step.")
    for out in outputs_in(graph.result):
        if out.node not in graph.nodes:
            raise InvalidInput(f"Pipeline {name!r} returns an output of an unknown step.")
    _add_after(graph)
    _check_acyclic(graph)
    return graph


def _add_after(graph: Graph) -> None:
    by_step: dict[str, list[str]] = {}
    for node in graph.nodes.values():
        by_step.setdefault(node.step.name, []).append(node.name)
    for node in graph.nodes.values():
        extra = []
        for wanted in node.step.options.after:
            if wanted not in by_step:
                raise InvalidInput(
                    f"Step {node.name!r} runs after {wanted!r}, which pipeline "
                    f"{graph.pipeline!r} never calls."
                )
            extra += [n for n in by_step[wanted] if n not in node.upstream and n != node.name]
        node.upstream = (*node.upstream, *extra)


def _check_acyclic(graph: Graph) -> None:
    """Refuse a graph with a cycle (only ``after`` can make one), naming the cycle."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    for start in graph.nodes:
        if start in state:
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(graph.nodes[start].upstream))]
        state[start] = 1
        path.append(start)
        while stack:
            current, ups = stack[-1]
            nxt = next(ups, None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[current] = 2
            elif state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                raise InvalidInput(
                    f"Pipeline {graph.pipeline!r} has a cycle: {' → '.join(reversed(cycle))}."
                )
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(graph.nodes[nxt].upstream)))
