"""Request bodies for stock changes."""

from __future__ import annotations

from pydantic import Field, StrictInt, field_validator

from chalicelib.catalog.models import Id
from chalicelib.core.schema import NOT_BLANK, Body


class StockChange(Body):
    """Exactly one of ``set`` (the new level) or ``delta`` (a non-zero change)."""

    exactly_one = (("set", "delta"),)
    productId: Id
    variantId: Id
    vendorId: Id | None = Field(default=None, description="admins name the vendor; vendors change their own")
    set: StrictInt | None = Field(default=None, ge=0, le=1_000_000)
    delta: StrictInt | None = Field(default=None, ge=-1_000_000, le=1_000_000, json_schema_extra={"not": {"const": 0}})
    reason: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    lowStockThreshold: StrictInt | None = Field(default=None, ge=0, le=1_000_000)

    @field_validator("delta")
    @classmethod
    def _nonzero(cls, value: int | None) -> int | None:
        if value == 0:
            raise ValueError("delta must not be 0")
        return value
