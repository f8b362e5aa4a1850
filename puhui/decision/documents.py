"""Reading a rule document (a credit policy, a line policy) and naming its problems.

Why one module: both kinds of policy are JSON documents validated by a pydantic model, refused
with every problem and its place (``grades[2].max_pd: ...``), and carry rule messages whose
``{fact}`` placeholders must name facts the document may use; the two must read, refuse and
check the same way.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

from pydantic import (BaseModel, Field, PlainSerializer, PlainValidator, StringConstraints,
                      ValidationError)

from puhui.calendar import RATE_SCALE
from puhui.decision import values

M = TypeVar("M", bound=BaseModel)

# -- the field types both documents use ------------------------------------------------------------
Code = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Z][A-Z0-9_]{1,63}$")]
Version = Annotated[str, StringConstraints(strict=True,
                                           pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
FactName = Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Message = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=500)]
Fen = Annotated[int, Field(strict=True, ge=0, le=values.MONEY_BOUND)]


def exact_decimal(low: Decimal, high: Decimal, *, low_open: bool = False,
                  high_open: bool = False, nonzero: bool = False) -> Any:
    """A Decimal written as a JSON string ("0.0720"), never a float, at most 6 decimals, in
    [low, high] (open at either end when asked; `nonzero`: 0 refused, as a change of 0)."""
    def parse(value: Any) -> Decimal:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, str):
            try:
                number = Decimal(value)
            except InvalidOperation:
                raise ValueError(f"{value!r} is not a decimal number") from None
        else:
            raise ValueError(f"write exact decimals as strings (\"0.0720\"), not {value!r}")
        if not number.is_finite() or number * RATE_SCALE != int(number * RATE_SCALE):
            raise ValueError(f"{value!r} must be finite with at most 6 decimal places")
        if number < low or (low_open and number == low) or number > high or \
                (high_open and number == high):
            raise ValueError(f"{value} must be {'>' if low_open else '>='} {low} and "
                             f"{'<' if high_open else '<='} {high}")
        if nonzero and number == 0:
            raise ValueError("a change of 0 changes nothing")
        return number
    return Annotated[Decimal, PlainValidator(parse), PlainSerializer(str, return_type=str)]


def load_document(model: type[M], source: M | Mapping[str, Any] | str | bytes,
                  error: type[Exception], noun: str) -> M:
    """`source` (a `model`, a mapping, or JSON text) validated as `model`; `error` listing
    every problem with its place otherwise (`noun` names the document: "policy")."""
    if isinstance(source, model):
        return source
    if isinstance(source, Mapping):
        try:
            source = json.dumps(source, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise error(f"a {noun} must be plain JSON data: {exc}") from None
    if not isinstance(source, (str, bytes)):
        raise error(f"a {noun} is a JSON document, got {type(source).__name__}")
    try:
        return model.model_validate_json(source)
    except ValidationError as exc:
        raise error(f"invalid {noun}: " + "; ".join(
            f"{where(e['loc'])}: {message(e)}" if e["loc"] else message(e)
            for e in exc.errors())) from None


def where(loc: tuple[Any, ...]) -> str:
    """A validation error's place as a document path: ``grades[2].max_pd``."""
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif part == "leaf" or (parts and parts[-1] == f".{part}"):
            continue  # the condition's shape tag, or a shape tag repeated as its own field
        else:
            parts.append(f".{part}")
    return "".join(parts).lstrip(".")


def message(error: Mapping[str, Any]) -> str:
    """A validation error's message without pydantic's prefix."""
    return str(error["msg"]).removeprefix("Value error, ")


def placeholder_problems(text: str, kinds: Mapping[str, str], place: str) -> list[str]:
    """What is wrong with the ``{fact}`` placeholders of a rule's message at `place`: each must
    name a fact of `kinds`, without format or conversion."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        return [f"{place}: {exc} (write a literal brace as {{{{ or }}}})"]
    problems = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if spec or conversion:
            problems.append(f"{place}: placeholder {{{name}}} takes no format or conversion")
        elif name not in kinds:
            problems.append(f"{place}: placeholder {{{name}}} names no known fact")
    return problems
