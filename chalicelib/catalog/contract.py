"""catalog: products with variants and prices per currency (integer minor units), and promo codes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.core import patterns
from chalicelib.core.openapi import PAGE, Op, Param
from chalicelib.core.schema import Instant, Page, View

TAG = "catalog"
M = "chalicelib.catalog.models"
C = "chalicelib.catalog.contract"
EDITORS = ("admin", "vendor")


class Variant(View):
    variantId: str
    name: str
    unit: str
    sku: str
    prices: dict[str, int] = Field(description="currency code -> price in minor units")


class Product(View):
    productId: str
    name: str
    category: str
    description: str
    imageUrl: str | None = None
    active: bool
    variants: list[Variant]
    version: int = Field(description="send it back in PATCH; a stale one is a 409")
    createdAt: Instant
    updatedAt: Instant
    createdBy: str | None = Field(default=None, description="editors only (create, update, delete answers)")
    updatedBy: str | None = Field(default=None, description="editors only")


class ProductPage(Page):
    items: list[Product]


class Promo(View):
    code: str
    kind: Literal["percent", "fixed"]
    value: int
    currency: str | None = None
    minOrder: int
    validFrom: Instant
    validTo: Instant
    maxUses: int
    maxUsesPerUser: int
    active: bool
    uses: int
    createdAt: Instant
    createdBy: str


class PromoPage(Page):
    items: list[Promo]


CATEGORY = Param("category", {"type": "string", "pattern": patterns.SLUG}, description="only this category")

ROUTES: dict[tuple[str, str], Op] = {
    ("GET", "/products"): Op(f"{C}:ProductPage", query=(CATEGORY, *PAGE)),
    ("GET", "/products/{product_id}"): Op(f"{C}:Product"),
    ("POST", "/products"): Op(f"{C}:Product", 201, f"{M}:ProductBody", roles=EDITORS, errors=(409, 422)),
    ("PATCH", "/products/{product_id}"): Op(f"{C}:Product", body=f"{M}:ProductPatch", roles=EDITORS, errors=(409, 422)),
    ("DELETE", "/products/{product_id}"): Op(f"{C}:Product", roles=EDITORS, errors=(409,)),
    ("GET", "/promos"): Op(f"{C}:PromoPage", query=PAGE, roles=("admin",)),
    ("POST", "/promos"): Op(f"{C}:Promo", 201, f"{M}:PromoBody", roles=("admin",), errors=(409, 422)),
    ("GET", "/promos/{code}"): Op(f"{C}:Promo", roles=("admin",)),
    ("PATCH", "/promos/{code}"): Op(f"{C}:Promo", body=f"{M}:PromoPatch", roles=("admin",)),
    ("DELETE", "/promos/{code}"): Op(f"{C}:Promo", roles=("admin",)),
}
