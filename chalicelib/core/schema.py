"""pydantic base for request bodies and the one translation of its errors into ours."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from chalicelib.core.errors import ValidationError

M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    """Base for request bodies: unknown fields are rejected (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        fields: dict[str, str] = {}
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "body"
            fields.setdefault(name, "unknown field" if err["type"] == "extra_forbidden" else str(err["msg"]))
        raise ValidationError("request body is invalid", fields=fields) from None
