"""pydantic bases for request bodies and responses, and the one translation of its errors into ours.

Request bodies are strict (``"yes"``, ``0`` or ``"1"`` are not booleans; ``"5"`` is not an
integer), forbid unknown fields, and refuse an explicit ``null`` for a field that is
merely optional (omit it instead) unless the model lists it in ``nullable``. The rules that JSON
Schema can say are said in the generated schema too, so the OpenAPI document matches what is checked:
``exactly_one`` becomes ``oneOf``, a PATCH body (``Patch``) needs at least one change
(``minProperties``), and optional fields are not nullable.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from chalicelib.core.errors import Unprocessable, ValidationError

M = TypeVar("M", bound=BaseModel)

# A required text value: at least one character that is not whitespace. (Strings are not stripped:
# what a client sends is what the schema judges, so the document and the server agree.)
NOT_BLANK = r"\S"


def _body_schema(schema: dict[str, Any], cls: type[Any]) -> None:
    """Make the JSON schema say what the validators below enforce."""
    nullable: frozenset[str] = getattr(cls, "nullable", frozenset())
    for name, prop in schema.get("properties", {}).items():
        if name in nullable or "anyOf" not in prop:
            continue
        options = [o for o in prop["anyOf"] if o != {"type": "null"}]
        if len(options) == len(prop["anyOf"]):
            continue
        if prop.get("default", "") is None:
            del prop["default"]
        if len(options) == 1:
            del prop["anyOf"]
            prop.update(options[0])
        else:
            prop["anyOf"] = options
    pairs: tuple[tuple[str, ...], ...] = getattr(cls, "exactly_one", ())
    if len(pairs) == 1:
        schema["oneOf"] = [{"required": [f]} for f in pairs[0]]
    elif pairs:
        schema["allOf"] = [{"oneOf": [{"required": [f]} for f in group]} for group in pairs]
    schema_rules: tuple[dict[str, Any], ...] = getattr(cls, "schema_rules", ())
    if schema_rules:
        schema.setdefault("allOf", []).extend(schema_rules)
    if getattr(cls, "min_changes", False):
        schema["minProperties"] = 1 + len(getattr(cls, "always", ()))
        editable = [n for n in schema.get("properties", {}) if n not in getattr(cls, "always", ())]
        schema.setdefault("description", "")
        schema["description"] = (schema["description"] + " At least one of: " + ", ".join(editable) + ".").strip()


class Body(BaseModel):
    """Base for request bodies: strict types, no unknown fields (no mass assignment), no nulls."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_body_schema)

    # Fields that accept an explicit null (meaning "clear it"); every other optional field is omitted instead.
    nullable: ClassVar[frozenset[str]] = frozenset()
    # Groups of fields of which exactly one must be given (JSON Schema ``oneOf``).
    exactly_one: ClassVar[tuple[tuple[str, ...], ...]] = ()
    # Cross-field rules in JSON Schema (if/then) that the model's own validators also enforce.
    schema_rules: ClassVar[tuple[dict[str, Any], ...]] = ()

    @field_validator("*", mode="before")
    @classmethod
    def _no_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("must not be null; omit the field instead")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Any:
        for group in self.exactly_one:
            given = [f for f in group if getattr(self, f) is not None]
            if len(given) != 1:
                raise ValueError(f"give exactly one of {' or '.join(group)}")
        return self


class Patch(Body):
    """A PATCH body: at least one field to change besides those in ``always`` (e.g. ``version``)."""

    min_changes: ClassVar[bool] = True
    always: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _some_change(self) -> Any:
        if not self.model_fields_set - set(self.always):
            editable = [n for n in type(self).model_fields if n not in self.always]
            raise ValueError("nothing to change: give at least one of " + ", ".join(editable))
        return self


def _integral(value: Any) -> Any:
    """JSON numbers with no fraction as ints: JSON Schema's ``integer`` takes ``2.0`` as 2, so do we."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _iso_string(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string")
    return value


# An RFC 3339 timestamp with an offset, from a JSON string only (strict mode would refuse every
# string; lax mode would also take numbers as epoch seconds).
Timestamp = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_iso_string)]


class View(BaseModel):
    """Base for response shapes (documentation only: the services build plain dicts). ``extra``
    is forbidden so the contract test fails when a response grows a field the document lacks.
    Optional fields are absent rather than null, unless listed in ``nullable``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_body_schema)
    nullable: ClassVar[frozenset[str]] = frozenset()


def _day_string(value: Any) -> Any:
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError("must be a date, YYYY-MM-DD")
    return value


# A calendar date (``YYYY-MM-DD``), from a JSON string only.
Day = Annotated[date, Field(strict=False), BeforeValidator(_day_string)]


# An instant as the services write it (datetime.isoformat() of an aware datetime).
Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class Page(View):
    """A page of a listing: pass ``nextCursor`` back as ``cursor``; null on the last page."""

    nullable = frozenset({"nextCursor"})
    nextCursor: str | None


class Rule(ValueError):
    """A rule JSON Schema cannot state (across fields, or in bytes): the body is well-formed but
    refused, so it answers 422 rather than 400. ``field`` names it when raised for the whole model."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def validate(model: type[M], data: Any) -> M:
    """``model`` from ``data``; a schema violation is a 400, a broken ``Rule`` a 422, each naming the field."""
    try:
        return model.model_validate(_integral(data))
    except PydanticValidationError as exc:
        fields: dict[str, str] = {}
        rules: dict[str, str] = {}
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "body"
            cause = (err.get("ctx") or {}).get("error")
            if isinstance(cause, Rule):
                rules.setdefault(cause.field or name, str(cause))
                continue
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "string_pattern_mismatch" and (err.get("ctx") or {}).get("pattern") == NOT_BLANK:
                message = "must not be blank"
            fields.setdefault(name, "unknown field" if err["type"] == "extra_forbidden" else message)
        if fields:
            raise ValidationError("request body is invalid", fields=fields) from None
        raise Unprocessable("request body breaks a rule", fields=rules) from None
