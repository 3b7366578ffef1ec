"""Request bodies for products and promo codes. Money is integer minor units, never floats."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictInt, model_validator

from chalicelib.core.schema import Body

CURRENCY_RE = r"^[A-Z]{3}$"
Currency = Annotated[str, Field(pattern=CURRENCY_RE)]
MinorUnits = Annotated[StrictInt, Field(gt=0, le=100_000_000)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


def _https(url: str) -> str:
    if not url.startswith("https://") or len(url) > 2048 or any(c.isspace() for c in url):
        raise ValueError("must be an https:// URL")
    return url


HttpsUrl = Annotated[str, AfterValidator(_https)]


class VariantBody(Body):
    variantId: Id | None = None
    name: str = Field(min_length=1, max_length=40)
    unit: str = Field(min_length=1, max_length=20)
    sku: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    prices: dict[Currency, MinorUnits] = Field(min_length=1, max_length=10)


class ProductBody(Body):
    name: str = Field(min_length=1, max_length=120)
    category: Slug
    description: str = Field(default="", max_length=2000)
    imageUrl: HttpsUrl | None = None
    active: bool = True
    variants: list[VariantBody] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _unique(self) -> ProductBody:
        ids = [v.variantId for v in self.variants if v.variantId]
        skus = [v.sku for v in self.variants]
        if len(set(ids)) != len(ids) or len(set(skus)) != len(skus):
            raise ValueError("variant ids and skus must be unique")
        return self


class ProductPatch(Body):
    version: StrictInt = Field(ge=0, description="the version you read; a stale one is a 409")
    name: str | None = Field(default=None, min_length=1, max_length=120)
    category: Slug | None = None
    description: str | None = Field(default=None, max_length=2000)
    imageUrl: HttpsUrl | None = None
    active: bool | None = None
    variants: list[VariantBody] | None = Field(default=None, min_length=1, max_length=20)


class PromoBody(Body):
    code: str = Field(pattern=r"^[A-Z0-9_-]{3,20}$")
    kind: Literal["percent", "fixed"]
    value: MinorUnits = Field(description="percent (1-100) or an amount in minor units of `currency`")
    currency: Currency | None = Field(default=None, description="required for fixed and minOrder")
    minOrder: StrictInt = Field(default=0, ge=0)
    validFrom: datetime
    validTo: datetime
    maxUses: StrictInt = Field(ge=1, le=10_000_000)
    maxUsesPerUser: StrictInt = Field(default=1, ge=1, le=1000)
    active: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> PromoBody:
        if self.kind == "percent" and self.value > 100:
            raise ValueError("a percent promo is 1-100")
        if (self.kind == "fixed" or self.minOrder) and not self.currency:
            raise ValueError("currency is required for fixed promos and minOrder")
        if self.validTo <= self.validFrom:
            raise ValueError("validTo must be after validFrom")
        if self.validFrom.tzinfo is None or self.validTo.tzinfo is None:
            raise ValueError("validFrom and validTo need a timezone")
        return self


class PromoPatch(Body):
    active: bool | None = None
    validTo: datetime | None = None
    maxUses: StrictInt | None = Field(default=None, ge=1, le=10_000_000)
