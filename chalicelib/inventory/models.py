"""Request bodies for stock changes."""

from __future__ import annotations

from pydantic import Field, StrictInt, model_validator

from chalicelib.catalog.models import Id
from chalicelib.core.schema import Body


class StockChange(Body):
    productId: Id
    variantId: Id
    vendorId: Id | None = Field(default=None, description="admins name the vendor; vendors change their own")
    set: StrictInt | None = Field(default=None, ge=0, le=1_000_000)
    delta: StrictInt | None = Field(default=None, ge=-1_000_000, le=1_000_000)
    reason: str = Field(min_length=1, max_length=200)
    lowStockThreshold: StrictInt | None = Field(default=None, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _one(self) -> StockChange:
        if (self.set is None) == (self.delta is None):
            raise ValueError("give exactly one of set or delta")
        if self.delta == 0:
            raise ValueError("delta must not be 0")
        return self
