"""Values in DynamoDB's wire format (``{"S": ...}``, ``{"N": ...}``, M, L, BOOL, NULL, SS/NS/BS):
checking, numbers in their canonical form, equality and order as DynamoDB compares them, and
document paths (get, assign, remove, project). ``Invalid`` is what DynamoDB answers with a
ValidationException."""

from __future__ import annotations

import copy
import decimal
import importlib.util
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

CONTEXT = decimal.Context(prec=38)  # DynamoDB's numbers: 38 significant digits
TYPES = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "BOOL", "NULL")

Attr = dict[str, Any]  # one attribute value in the wire format
Item = dict[str, Attr]
PathT = tuple[str | int, ...]  # attribute names (placeholders resolved) and list indexes


class Invalid(Exception):
    """What DynamoDB answers with a ValidationException; the client turns it into a ClientError."""


@cache
def reserved_words() -> frozenset[str]:
    """DynamoDB's reserved words (the list moto ships as a data file; moto itself is not run)."""
    spec = importlib.util.find_spec("moto")
    if spec is None or not spec.submodule_search_locations:
        raise NotImplementedError("the reserved-word list comes from moto's package data; moto is not installed")
    words = Path(next(iter(spec.submodule_search_locations))) / "dynamodb" / "parsing" / "reserved_keywords.txt"
    return frozenset(w.upper() for w in words.read_text().split())


def operand_type(operator: str, t: str) -> str:
    return f"Incorrect operand type for operator or function; operator or function: {operator}, operand type: {t}"


# -- values ----------------------------------------------------------------------------------
def kind(attr: Attr) -> str:
    if not isinstance(attr, dict) or len(attr) != 1 or next(iter(attr)) not in TYPES:
        raise Invalid(f"Supplied AttributeValue is not a single known type: {attr!r}")
    return next(iter(attr))


def number(text: str) -> Decimal:
    try:
        value = CONTEXT.create_decimal(text)
    except decimal.InvalidOperation:
        raise Invalid(f"A value provided cannot be converted into a number: {text!r}") from None
    if not value.is_finite():
        raise Invalid(f"A value provided cannot be converted into a number: {text!r}")
    return value


def number_text(value: Decimal) -> str:
    """A number as DynamoDB returns it: no exponent, no trailing zeros."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(CONTEXT), "f")


def normalised(attr: Attr) -> Attr:
    """A copy of ``attr`` checked and with its numbers in DynamoDB's canonical form."""
    t = kind(attr)
    v = attr[t]
    if t == "N":
        return {"N": number_text(number(v))}
    if t == "NS":
        if not v:
            raise Invalid("One or more parameter values were invalid: An number set may not be empty")
        return {"NS": list(dict.fromkeys(number_text(number(x)) for x in v))}
    if t in ("SS", "BS"):
        if not v:
            raise Invalid(f"One or more parameter values were invalid: An {t} set may not be empty")
        if len(set(v)) != len(v):
            raise Invalid("One or more parameter values were invalid: Input collection contains duplicates")
        return {t: list(v)}
    if t == "M":
        return {"M": {k: normalised(x) for k, x in v.items()}}
    if t == "L":
        return {"L": [normalised(x) for x in v]}
    if t == "NULL" and v is not True:
        raise Invalid(
            "One or more parameter values were invalid: Null attribute value types must have the value of true"
        )
    return {t: v}


def set_members(attr: Attr) -> set[Any]:
    t = kind(attr)
    return {number(x) for x in attr[t]} if t == "NS" else set(attr[t])


def equal(a: Attr | None, b: Attr | None) -> bool:
    if a is None or b is None or kind(a) != kind(b):
        return False
    t = kind(a)
    if t == "N":
        return number(a["N"]) == number(b["N"])
    if t in ("SS", "NS", "BS"):
        return set_members(a) == set_members(b)
    if t == "L":
        return len(a["L"]) == len(b["L"]) and all(equal(x, y) for x, y in zip(a["L"], b["L"], strict=True))
    if t == "M":
        return a["M"].keys() == b["M"].keys() and all(equal(a["M"][k], b["M"][k]) for k in a["M"])
    return bool(a[t] == b[t])


def ordered(attr: Attr | None) -> tuple[str, Any] | None:
    """A scalar's sort key (S by code point, which is UTF-8 byte order; N by value; B by bytes),
    or None for what DynamoDB does not order."""
    if attr is None:
        return None
    t = kind(attr)
    if t == "N":
        return ("N", number(attr["N"]))
    if t in ("S", "B"):
        return (t, attr[t])
    return None


def size(attr: Attr) -> int:
    t = kind(attr)
    if t in ("S", "B", "SS", "NS", "BS", "L", "M"):
        return len(attr[t])
    raise Invalid(operand_type("size", t))


# -- paths -----------------------------------------------------------------------------------
def _child(node: Any, step: str | int) -> Attr | None:
    if isinstance(step, int):
        return node["L"][step] if "L" in node and step < len(node["L"]) else None
    found = node["M"].get(step) if "M" in node else None
    return found if isinstance(found, dict) else None


def get(item: Item, path: PathT) -> Attr | None:
    node: Attr | None = {"M": item}
    for step in path:
        node = _child(node, step)
        if node is None:
            return None
    return node


def _parent(item: Item, path: PathT) -> Attr:
    """The map or list ``path``'s last step lives in; Invalid when it is not there (an update
    does not create intermediate maps)."""
    node = get(item, path[:-1]) if len(path) > 1 else {"M": item}
    if node is None or ("L" if isinstance(path[-1], int) else "M") not in node:
        raise Invalid("The document path provided in the update expression is invalid for update")
    return node


def assign(item: Item, path: PathT, value: Attr) -> None:
    parent, last = _parent(item, path), path[-1]
    if isinstance(last, int):
        if last < len(parent["L"]):
            parent["L"][last] = value
        else:  # past the end: appended, as DynamoDB does
            parent["L"].append(value)
    else:
        parent["M"][last] = value


def remove(item: Item, path: PathT) -> None:
    if isinstance(path[-1], int):
        raise NotImplementedError("MemoryDynamo: REMOVE of a list element")
    _parent(item, path)["M"].pop(path[-1], None)


def project(item: Item, paths: list[PathT]) -> Item:
    """The attributes ``paths`` name, nested as they are in ``item`` (maps only)."""
    out: Item = {}
    for path in paths:
        if any(isinstance(step, int) for step in path):
            raise NotImplementedError("MemoryDynamo: a list index in a ProjectionExpression")
        value = get(item, path)
        if value is None:
            continue
        node = out
        for step in path[:-1]:
            node = node.setdefault(str(step), {"M": {}})["M"]
        node[str(path[-1])] = copy.deepcopy(value)
    return out
