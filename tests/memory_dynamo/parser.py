"""Parsing DynamoDB's expressions (condition, key condition, filter, update, projection) into
small tuples that ``evaluate`` reads, with the request's placeholders resolved. What DynamoDB
refuses raises ``Invalid`` (its ValidationException: an undefined or unused placeholder, a
reserved word used bare, overlapping update paths); what this cannot parse raises
``NotImplementedError``, never passes in silence."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tests.memory_dynamo.values import Attr, Invalid, PathT, reserved_words

COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")
CLAUSES = ("SET", "REMOVE", "ADD", "DELETE")
CONDITION_FUNCTIONS = ("attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains")
_TOKEN = re.compile(
    r"\s*(?:(?P<name>#[A-Za-z0-9_]+)|(?P<value>:[A-Za-z0-9_]+)|(?P<op><>|<=|>=|=|<|>|\+|-)"
    r"|(?P<punct>[(),.\[\]])|(?P<num>[0-9]+)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*))"
)


@dataclass
class Placeholders:
    """A request's ExpressionAttributeNames and -Values, and which of them its expressions used."""

    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Attr] = field(default_factory=dict)
    used_names: set[str] = field(default_factory=set)
    used_values: set[str] = field(default_factory=set)

    def check_all_used(self) -> None:
        if set(self.names) - self.used_names:
            unused = ", ".join(sorted(set(self.names) - self.used_names))
            raise Invalid(f"Value provided in ExpressionAttributeNames unused in expressions: keys: {{{unused}}}")
        if set(self.values) - self.used_values:
            unused = ", ".join(sorted(set(self.values) - self.used_values))
            raise Invalid(f"Value provided in ExpressionAttributeValues unused in expressions: keys: {{{unused}}}")


@dataclass
class Update:
    sets: list[tuple[PathT, Any]] = field(default_factory=list)
    removes: list[PathT] = field(default_factory=list)
    adds: list[tuple[PathT, Attr]] = field(default_factory=list)
    deletes: list[tuple[PathT, Attr]] = field(default_factory=list)

    def paths(self) -> list[PathT]:
        return [p for p, _ in self.sets] + self.removes + [p for p, _ in self.adds] + [p for p, _ in self.deletes]


class Parser:
    def __init__(self, text: str, ph: Placeholders, what: str) -> None:
        self.text, self.ph, self.what = text, ph, what
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if not text[pos:].strip():
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                self.fail(f"unexpected character at {pos}")
            assert m is not None and m.lastgroup is not None
            self.tokens.append((m.lastgroup, m.group(m.lastgroup)))
            pos = m.end()
        self.i = 0

    def fail(self, why: str) -> None:
        raise NotImplementedError(f"MemoryDynamo cannot parse this {self.what} ({why}): {self.text!r}")

    # -- tokens
    def peek(self, ahead: int = 0) -> tuple[str, str]:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok[0] == "end":
            self.fail("unexpected end")
        self.i += 1
        return tok

    def at(self, kind_: str, text: str | None = None) -> bool:
        k, t = self.peek()
        return k == kind_ and (text is None or (t.upper() == text if kind_ == "ident" else t == text))

    def expect(self, kind_: str, text: str | None = None) -> str:
        if not self.at(kind_, text):
            self.fail(f"expected {text or kind_}, found {self.peek()[1] or 'the end'}")
        return self.take()[1]

    def done(self) -> None:
        if self.peek()[0] != "end":
            self.fail(f"unexpected {self.peek()[1]!r}")

    # -- operands
    def name(self) -> str:
        k, t = self.take()
        if k == "name":
            if t not in self.ph.names:
                raise Invalid(
                    f"An expression attribute name used in the document path is not defined; attribute name: {t}"
                )
            self.ph.used_names.add(t)
            return self.ph.names[t]
        if k == "ident":
            if t.upper() in reserved_words():
                raise Invalid(f"Invalid {self.what}: Attribute name is a reserved keyword; reserved keyword: {t}")
            return t
        self.fail(f"expected an attribute name, found {t!r}")
        raise AssertionError

    def path(self) -> PathT:
        steps: list[str | int] = [self.name()]
        while True:
            if self.at("punct", "."):
                self.take()
                steps.append(self.name())
            elif self.at("punct", "["):
                self.take()
                steps.append(int(self.expect("num")))
                self.expect("punct", "]")
            else:
                return tuple(steps)

    def value(self) -> Attr:
        t = self.expect("value")
        if t not in self.ph.values:
            raise Invalid(f"An expression attribute value used in expression is not defined; attribute value: {t}")
        self.ph.used_values.add(t)
        return self.ph.values[t]

    def operand(self) -> tuple[Any, ...]:
        if self.at("value"):
            return ("value", self.value())
        if self.peek()[0] == "ident" and self.peek(1) == ("punct", "("):
            fn = self.take()[1]
            if fn != "size":
                self.fail(f"function {fn} is not an operand here")
            self.take()
            p = self.path()
            self.expect("punct", ")")
            return ("size", p)
        return ("path", self.path())

    # -- conditions: OR < AND < NOT < comparisons, as DynamoDB binds them
    def condition(self) -> tuple[Any, ...]:
        node = self.conjunction()
        while self.at("ident", "OR"):
            self.take()
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> tuple[Any, ...]:
        node = self.negation()
        while self.at("ident", "AND"):
            self.take()
            node = ("and", node, self.negation())
        return node

    def negation(self) -> tuple[Any, ...]:
        if self.at("ident", "NOT"):
            self.take()
            return ("not", self.negation())
        return self.primary()

    def primary(self) -> tuple[Any, ...]:
        if self.at("punct", "("):
            self.take()
            node = self.condition()
            self.expect("punct", ")")
            return node
        k, t = self.peek()
        if k == "ident" and t in CONDITION_FUNCTIONS and self.peek(1) == ("punct", "("):
            self.take()
            self.take()
            args: list[Any] = [self.path()]
            while self.at("punct", ","):
                self.take()
                args.append(self.operand())
            self.expect("punct", ")")
            arity = 1 if t in ("attribute_exists", "attribute_not_exists") else 2
            if len(args) != arity:
                raise Invalid(f"Invalid {self.what}: Incorrect number of operands for operator or function: {t}")
            return ("fn", t, *args)
        left = self.operand()
        if self.peek()[0] == "op" and self.peek()[1] in COMPARATORS:
            op = self.take()[1]
            return ("cmp", op, left, self.operand())
        if self.at("ident", "BETWEEN"):
            self.take()
            low = self.operand()
            self.expect("ident", "AND")
            return ("between", left, low, self.operand())
        if self.at("ident", "IN"):
            self.take()
            self.expect("punct", "(")
            options = [self.operand()]
            while self.at("punct", ","):
                self.take()
                options.append(self.operand())
            self.expect("punct", ")")
            return ("in", left, options)
        self.fail(f"expected a comparison after {left}")
        raise AssertionError

    # -- update expressions
    def update(self) -> Update:
        out, seen = Update(), set()
        while self.peek()[0] != "end":
            clause = self.expect("ident").upper()
            if clause not in CLAUSES:
                self.fail(f"unknown clause {clause}")
            if clause in seen:
                raise Invalid(
                    f'Invalid UpdateExpression: The "{clause}" section can only be used once in an update expression;'
                )
            seen.add(clause)
            while True:
                if clause == "SET":
                    p = self.path()
                    self.expect("op", "=")
                    out.sets.append((p, self.set_value()))
                elif clause == "REMOVE":
                    out.removes.append(self.path())
                else:
                    p = self.path()
                    (out.adds if clause == "ADD" else out.deletes).append((p, self.value()))
                if not self.at("punct", ","):
                    break
                self.take()
        if not seen:
            self.fail("no clause")
        paths = out.paths()
        for i, a in enumerate(paths):
            for b in paths[i + 1 :]:
                if a[: len(b)] == b or b[: len(a)] == a:
                    raise Invalid(
                        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or "
                        f"rewrite one of these paths; path one: {list(a)}, path two: {list(b)}"
                    )
        return out

    def set_value(self) -> tuple[Any, ...]:
        left = self.set_operand()
        if self.peek()[0] == "op" and self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            return (op, left, self.set_operand())
        return left

    def set_operand(self) -> tuple[Any, ...]:
        k, t = self.peek()
        if k == "ident" and self.peek(1) == ("punct", "("):
            self.take()
            self.take()
            if t == "if_not_exists":
                p = self.path()
                self.expect("punct", ",")
                node: tuple[Any, ...] = ("if_not_exists", p, self.set_operand())
            elif t == "list_append":
                first = self.set_operand()
                self.expect("punct", ",")
                node = ("list_append", first, self.set_operand())
            else:
                self.fail(f"function {t} in SET")
            self.expect("punct", ")")
            return node
        if self.at("value"):
            return ("value", self.value())
        return ("path", self.path())

    def projection(self) -> list[PathT]:
        paths = [self.path()]
        while self.at("punct", ","):
            self.take()
            paths.append(self.path())
        return paths


def parse_condition(text: str, ph: Placeholders, what: str = "ConditionExpression") -> tuple[Any, ...]:
    p = Parser(text, ph, what)
    node = p.condition()
    p.done()
    return node


def parse_update(text: str, ph: Placeholders) -> Update:
    p = Parser(text, ph, "UpdateExpression")
    node = p.update()
    p.done()
    return node


def parse_projection(text: str, ph: Placeholders) -> list[PathT]:
    p = Parser(text, ph, "ProjectionExpression")
    node = p.projection()
    p.done()
    return node
