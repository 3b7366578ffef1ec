"""Evaluating parsed expressions over items: conditions (``holds``), updates (``apply_update``)
and the shape of a Query's key condition (``key_condition``)."""

from __future__ import annotations

import copy
from typing import Any

from tests.memory_dynamo.parser import Update
from tests.memory_dynamo.values import (
    CONTEXT,
    TYPES,
    Attr,
    Invalid,
    Item,
    PathT,
    assign,
    equal,
    get,
    kind,
    normalised,
    number,
    number_text,
    operand_type,
    ordered,
    remove,
    set_members,
    size,
)


def operand(node: tuple[Any, ...], item: Item) -> Attr | None:
    if node[0] == "value":
        return node[1]  # type: ignore[no-any-return]
    if node[0] == "path":
        return get(item, node[1])
    if node[0] == "size":
        found = get(item, node[1])
        return None if found is None else {"N": str(size(found))}
    raise NotImplementedError(f"MemoryDynamo: operand {node[0]}")


def _compare(op: str, a: Attr | None, b: Attr | None) -> bool:
    if op == "=":
        return equal(a, b)
    if op == "<>":
        return not equal(a, b)  # a missing attribute is "not equal", as in DynamoDB
    x, y = ordered(a), ordered(b)
    if x is None or y is None or x[0] != y[0]:
        return False
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def holds(node: tuple[Any, ...], item: Item) -> bool:
    """Does the condition ``node`` hold for ``item`` (``{}`` when there is no item)?"""
    tag = node[0]
    if tag == "and":
        return holds(node[1], item) and holds(node[2], item)
    if tag == "or":
        return holds(node[1], item) or holds(node[2], item)
    if tag == "not":
        return not holds(node[1], item)
    if tag == "cmp":
        return _compare(node[1], operand(node[2], item), operand(node[3], item))
    if tag == "between":
        low, high = operand(node[2], item), operand(node[3], item)
        if _compare(">", low, high):
            raise Invalid(
                "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or "
                f"equal to lower bound; lower bound operand: {low}, upper bound operand: {high}"
            )
        x = operand(node[1], item)
        return _compare(">=", x, low) and _compare("<=", x, high)
    if tag == "in":
        x = operand(node[1], item)
        return any(equal(x, operand(o, item)) for o in node[2])
    if tag == "fn":
        return _function(node[1], node[2], node[3:], item)
    raise NotImplementedError(f"MemoryDynamo: condition {tag}")


def _function(fn: str, path: PathT, args: tuple[Any, ...], item: Item) -> bool:
    found = get(item, path)
    if fn == "attribute_exists":
        return found is not None
    if fn == "attribute_not_exists":
        return found is None
    arg = operand(args[0], item)
    if found is None or arg is None:
        return False
    if fn == "attribute_type":
        if kind(arg) != "S" or arg["S"] not in TYPES:
            raise Invalid(f"Invalid ConditionExpression: Invalid attribute type name found; type: {arg}")
        return kind(found) == str(arg["S"])
    if fn == "begins_with":
        t = kind(found)
        return t in ("S", "B") and kind(arg) == t and found[t].startswith(arg[t])
    if fn == "contains":
        t = kind(found)
        if t == "S":
            return kind(arg) == "S" and arg["S"] in found["S"]
        if t in ("SS", "NS", "BS"):
            return kind(arg) == t[0] and (number(arg["N"]) if t == "NS" else arg[t[0]]) in set_members(found)
        if t == "L":
            return any(equal(x, arg) for x in found["L"])
        return False
    raise NotImplementedError(f"MemoryDynamo: function {fn}")


def _set_value(node: tuple[Any, ...], item: Item) -> Attr:
    tag = node[0]
    if tag in ("+", "-"):
        a, b = _set_value(node[1], item), _set_value(node[2], item)
        if kind(a) != "N" or kind(b) != "N":
            raise Invalid("An operand in the update expression has an incorrect data type")
        x, y = number(a["N"]), number(b["N"])
        return {"N": number_text(CONTEXT.add(x, y) if tag == "+" else CONTEXT.subtract(x, y))}
    if tag == "if_not_exists":
        found = get(item, node[1])
        return found if found is not None else _set_value(node[2], item)
    if tag == "list_append":
        a, b = _set_value(node[1], item), _set_value(node[2], item)
        if kind(a) != "L" or kind(b) != "L":
            raise Invalid("An operand in the update expression has an incorrect data type")
        return {"L": [*a["L"], *b["L"]]}
    if tag == "value":
        return node[1]  # type: ignore[no-any-return]
    if tag == "path":
        found = get(item, node[1])
        if found is None:
            raise Invalid("The provided expression refers to an attribute that does not exist in the item")
        return found
    raise NotImplementedError(f"MemoryDynamo: SET operand {tag}")


def apply_update(update: Update, item: Item) -> Item:
    """The item after ``update``; every SET operand is read from the item as it was before."""
    new = copy.deepcopy(item)
    for path, value in [(p, copy.deepcopy(_set_value(v, item))) for p, v in update.sets]:
        assign(new, path, value)
    for path in update.removes:
        remove(new, path)
    for path, value in update.adds:
        found, t = get(new, path), kind(value)
        if t not in ("N", "SS", "NS", "BS"):
            raise Invalid("Invalid UpdateExpression: " + operand_type("ADD", t))
        if found is None:
            assign(new, path, copy.deepcopy(value))
        elif kind(found) != t:
            raise Invalid("An operand in the update expression has an incorrect data type")
        elif t == "N":
            assign(new, path, {"N": number_text(CONTEXT.add(number(found["N"]), number(value["N"])))})
        else:
            assign(new, path, normalised({t: list(dict.fromkeys([*found[t], *value[t]]))}))
    for path, value in update.deletes:
        found, t = get(new, path), kind(value)
        if t not in ("SS", "NS", "BS"):
            raise Invalid("Invalid UpdateExpression: " + operand_type("DELETE", t))
        if found is None:
            continue
        if kind(found) != t:
            raise Invalid("An operand in the update expression has an incorrect data type")
        gone = set_members(value)
        left = [x for x in found[t] if (number(x) if t == "NS" else x) not in gone]
        if left:
            assign(new, path, {t: left})
        else:
            remove(new, path)
    return new


def key_condition(node: tuple[Any, ...], hash_name: str, range_name: str | None) -> tuple[Attr, tuple[Any, ...] | None]:
    """The partition key's value and the sort key's condition, from ``hash = :v [AND <sort>]``:
    a Query's only shapes (= on the partition key; =, <, <=, >, >=, BETWEEN or begins_with on
    the sort key)."""
    parts: list[tuple[Any, ...]] = []

    def flat(n: tuple[Any, ...]) -> None:
        if n[0] == "and":
            flat(n[1])
            flat(n[2])
        else:
            parts.append(n)

    flat(node)
    hash_value, sort = None, None
    for n in parts:
        if n[0] == "cmp" and n[2][0] == "path" and n[3][0] == "value" and n[1] != "<>":
            path = n[2][1]
        elif n[0] == "between" and n[1][0] == "path" and n[2][0] == n[3][0] == "value":
            path = n[1][1]
        elif n[0] == "fn" and n[1] == "begins_with" and n[3][0] == "value":
            path = n[2]
        else:
            raise Invalid("Invalid KeyConditionExpression: Query key condition not supported")
        if len(path) != 1:
            raise Invalid("KeyConditionExpressions cannot have conditions on nested attributes")
        if path[0] == hash_name and n[0] == "cmp" and n[1] == "=" and hash_value is None:
            hash_value = n[3][1]
        elif path[0] == range_name and sort is None:
            sort = n
        else:
            raise Invalid(f"Query key condition not supported: a condition on {path[0]}")
    if hash_value is None:
        raise Invalid(f"Query condition missed key schema element: {hash_name}")
    return hash_value, sort
