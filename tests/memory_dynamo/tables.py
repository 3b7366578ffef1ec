"""The tables of infra/resources.json (key schema, attribute types, GSIs and their projections),
named for a stage as the provisioner names them, holding their items; and the errors a boto3
client raises."""

from __future__ import annotations

import copy
import functools
import json
import types
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from tests.memory_dynamo.values import Attr, Invalid, Item, kind, normalised, number

Key = tuple[Any, Any]


@functools.cache
def model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("dynamodb")


@functools.cache
def exceptions() -> types.SimpleNamespace:
    """``client.exceptions``: a ClientError subclass per error the API models, as botocore's."""
    return types.SimpleNamespace(**{s.name: type(s.name, (ClientError,), {}) for s in model().error_shapes})


def error(code: str, message: str, operation: str, **extra: Any) -> ClientError:
    """The ClientError a boto3 client raises for ``code`` (a modeled error's own class)."""
    cls = getattr(exceptions(), code, ClientError)
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}, **extra}
    return cls(response, operation)  # type: ignore[no-any-return]


def canon(attr: Attr) -> tuple[str, Any]:
    t = kind(attr)
    return (t, number(attr["N"])) if t == "N" else (t, attr[t])


@dataclass
class Index:
    name: str
    hash: str
    range: str | None
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    include: tuple[str, ...] = ()


@dataclass
class Table:
    name: str
    hash: str
    range: str | None
    types: dict[str, str]  # the AttributeDefinitions
    indexes: dict[str, Index] = field(default_factory=dict)
    rows: dict[Key, Item] = field(default_factory=dict)

    @property
    def key_names(self) -> tuple[str, ...]:
        return (self.hash, self.range) if self.range else (self.hash,)

    def key_of(self, key: Item) -> Key:
        """``key`` must be exactly the table's key, of the declared types."""
        if set(key) != set(self.key_names) or any(kind(key[n]) != self.types[n] for n in key):
            raise Invalid("The provided key element does not match the schema")
        return (canon(key[self.hash]), canon(key[self.range]) if self.range else None)

    def checked(self, item: Item) -> tuple[Key, Item]:
        """``item`` normalised, with its key; its key and index keys of their declared types."""
        item = {name: normalised(value) for name, value in item.items()}
        missing = [n for n in self.key_names if n not in item]
        if missing:
            raise Invalid(f"One or more parameter values were invalid: Missing the key {missing[0]} in the item")
        for name, declared in self.types.items():
            if name in item and kind(item[name]) != declared:
                where = "" if name in self.key_names else " for Index Key"
                raise Invalid(
                    f"One or more parameter values were invalid: Type mismatch{where} {name} "
                    f"Expected: {declared} Actual: {kind(item[name])}"
                )
            if name in item and item[name][declared] in ("", b""):
                raise Invalid(
                    "One or more parameter values are not valid. The AttributeValue for a key attribute cannot "
                    f"contain an empty string value. Key: {name}"
                )
        return self.key_of({n: item[n] for n in self.key_names}), item

    def keys(self, item: Item, index: Index | None = None) -> Item:
        names = [*self.key_names, *((index.hash, index.range) if index else ())]
        return {n: copy.deepcopy(item[n]) for n in names if n}

    def projected(self, item: Item, index: Index | None) -> Item:
        if index is None or index.projection == "ALL":
            return copy.deepcopy(item)
        keep = {*self.keys(item, index), *index.include}
        return {n: copy.deepcopy(v) for n, v in item.items() if n in keep}


def tables_for_stage(stage: str) -> list[Table]:
    """The tables of infra/resources.json, named for ``stage`` as the provisioner names them."""
    from freshcart_local.provision import TEMPLATE, Provisioner

    template = json.loads(TEMPLATE.read_text())
    names = Provisioner(template, stage, "us-east-1")
    tables = []
    for res in template["Resources"].values():
        if res.get("Type") != "AWS::DynamoDB::Table":
            continue
        p = res["Properties"]
        schema = {k["KeyType"]: k["AttributeName"] for k in p["KeySchema"]}
        indexes = {}
        for g in p.get("GlobalSecondaryIndexes", []):
            keys = {k["KeyType"]: k["AttributeName"] for k in g["KeySchema"]}
            proj = g["Projection"]
            include = tuple(proj.get("NonKeyAttributes", ()))
            indexes[g["IndexName"]] = Index(
                g["IndexName"], keys["HASH"], keys.get("RANGE"), proj["ProjectionType"], include
            )
        types_ = {a["AttributeName"]: a["AttributeType"] for a in p["AttributeDefinitions"]}
        name = str(names.resolve(p["TableName"]))
        tables.append(Table(name, schema["HASH"], schema.get("RANGE"), types_, indexes))
    return tables
