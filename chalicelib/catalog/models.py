"""Request bodies for products and promo codes. Money is integer minor units, never floats."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt, model_validator

from chalicelib.core import patterns
from chalicelib.core.schema import NOT_BLANK, Body, Patch, Rule, Timestamp

CURRENCY_RE = patterns.CURRENCY
Currency = Annotated[str, Field(pattern=CURRENCY_RE)]
MinorUnits = Annotated[StrictInt, Field(gt=0, le=100_000_000)]
Slug = Annotated[str, Field(pattern=patterns.SLUG)]
Id = Annotated[str, Field(pattern=patterns.ID)]


HttpsUrl = Annotated[str, Field(max_length=2048, pattern=r"^https://\S+$", description="an https:// URL")]
PromoCode = Annotated[str, Field(pattern=patterns.PROMO_CODE)]


class VariantBody(Body):
    variantId: Id | None = None
    name: str = Field(min_length=1, max_length=40, pattern=NOT_BLANK)
    unit: str = Field(min_length=1, max_length=20, pattern=NOT_BLANK)
    sku: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    prices: dict[Currency, MinorUnits] = Field(
        min_length=1,
        max_length=10,
        description="currency code -> price in minor units",
        json_schema_extra={"additionalProperties": False},
    )


class ProductBody(Body):
    name: str = Field(min_length=1, max_length=120, pattern=NOT_BLANK)
    category: Slug
    description: str = Field(default="", max_length=2000)
    imageUrl: HttpsUrl | None = None
    active: StrictBool = True
    variants: list[VariantBody] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _unique(self) -> ProductBody:
        _unique_variants(self.variants)
        return self


class ProductPatch(Patch):
    always = ("version",)
    version: StrictInt = Field(ge=0, description="the version you read; a stale one is a 409")
    name: str | None = Field(default=None, min_length=1, max_length=120, pattern=NOT_BLANK)
    category: Slug | None = None
    description: str | None = Field(default=None, max_length=2000)
    imageUrl: HttpsUrl | None = None
    active: StrictBool | None = None
    variants: list[VariantBody] | None = Field(default=None, min_length=1, max_length=20)

    @model_validator(mode="after")
    def _unique(self) -> ProductPatch:
        if self.variants is not None:
            _unique_variants(self.variants)
        return self


def _unique_variants(variants: list[VariantBody]) -> None:
    ids = [v.variantId for v in variants if v.variantId]
    skus = [v.sku for v in variants]
    if len(set(ids)) != len(ids) or len(set(skus)) != len(skus):
        raise Rule("variant ids and skus must be unique", field="variants")


class PromoBody(Body):
    """A percent promo's value is 1-100; fixed promos and a minOrder need a currency (both in the
    schema as if/then); validTo must be after validFrom (422)."""

    schema_rules = (
        {"if": {"properties": {"kind": {"const": "percent"}}}, "then": {"properties": {"value": {"maximum": 100}}}},
        {"if": {"properties": {"kind": {"const": "fixed"}}}, "then": {"required": ["currency"]}},
        {
            "if": {"required": ["minOrder"], "properties": {"minOrder": {"minimum": 1}}},
            "then": {"required": ["currency"]},
        },
    )
    code: PromoCode
    kind: Literal["percent", "fixed"]
    value: MinorUnits = Field(description="percent (1-100) or an amount in minor units of `currency`")
    currency: Currency | None = Field(default=None, description="required for fixed and minOrder")
    minOrder: StrictInt = Field(default=0, ge=0)
    validFrom: Timestamp
    validTo: Timestamp
    maxUses: StrictInt = Field(ge=1, le=10_000_000)
    maxUsesPerUser: StrictInt = Field(default=1, ge=1, le=1000)
    active: StrictBool = True

    @model_validator(mode="after")
    def _consistent(self) -> PromoBody:
        if self.kind == "percent" and self.value > 100:
            raise ValueError("a percent promo is 1-100")
        if (self.kind == "fixed" or self.minOrder) and not self.currency:
            raise ValueError("currency is required for fixed promos and minOrder")
        if self.validTo <= self.validFrom:
            raise Rule("validTo must be after validFrom", field="validTo")
        return self


class PromoPatch(Patch):
    active: StrictBool | None = None
    validTo: Timestamp | None = None
    maxUses: StrictInt | None = Field(default=None, ge=1, le=10_000_000)
