"""Catalog rules: who may change a product, variants and prices, promo codes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.audit import repo as audit
from chalicelib.audit.repo import Actor
from chalicelib.catalog.repo import CatalogRepo
from chalicelib.catalog.rules import public_view
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.core.errors import Forbidden, NotFound
from chalicelib.core.tx import Tagged

if TYPE_CHECKING:
    from chalicelib.catalog import models


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _variants(variants: list[Any]) -> list[dict[str, Any]]:
    return [{**v.model_dump(exclude_none=True), "variantId": v.variantId or uuid.uuid4().hex[:10]} for v in variants]


class VendorOffers(Protocol):
    """What the catalog asks of the vendors domain (wired in bootstrap; no import between them)."""

    def own(self, who: Caller) -> dict[str, Any]: ...

    def offer(self, vendor: dict[str, Any], product_id: str) -> list[Tagged]: ...


@dataclass
class CatalogService:
    repo: CatalogRepo
    vendors: VendorOffers

    # -- products ---------------------------------------------------------------------------
    def create(self, who: Caller, body: models.ProductBody, client: ClientInfo) -> dict[str, Any]:
        product_id = uuid.uuid4().hex[:16]
        now = _now()
        product = {
            "productId": product_id,
            **body.model_dump(exclude={"variants"}, exclude_none=True),
            "variants": _variants(body.variants),
            "version": 0,
            "createdAt": now,
            "updatedAt": now,
            "createdBy": who.user_id,
            "updatedBy": who.user_id,
        }
        extra = [audit.put_request(f"PRODUCT#{product_id}", "product_create", Actor.of(who, client))]
        if who.role == "vendor":  # a vendor's new product is one it offers
            extra += self.vendors.offer(self.vendors.own(who), product_id)
        self.repo.create_product(product, extra)
        return product

    def get(self, product_id: str, include_inactive: bool = False) -> dict[str, Any]:
        product = self.repo.get_product(product_id)
        if not product or (not product.get("active") and not include_inactive):
            raise NotFound("product not found")
        return product

    def update(self, who: Caller, product_id: str, body: models.ProductPatch, client: ClientInfo) -> dict[str, Any]:
        current = self._editable(who, product_id)
        changes = body.model_dump(exclude_unset=True, exclude={"version", "variants"})
        if body.variants is not None:
            changes["variants"] = _variants(body.variants)
        updated = {**current, **changes, "version": body.version + 1, "updatedAt": _now(), "updatedBy": who.user_id}
        self.repo.put_product(
            updated,
            body.version,
            [
                audit.put_request(
                    f"PRODUCT#{product_id}", "product_update", Actor.of(who, client), {"fields": sorted(changes)}
                )
            ],
        )
        return updated

    def deactivate(self, who: Caller, product_id: str, client: ClientInfo) -> dict[str, Any]:
        current = self._editable(who, product_id)
        if not current.get("active"):
            return current
        version = int(current["version"])
        updated = {**current, "active": False, "version": version + 1, "updatedAt": _now(), "updatedBy": who.user_id}
        self.repo.put_product(
            updated, version, [audit.put_request(f"PRODUCT#{product_id}", "product_deactivate", Actor.of(who, client))]
        )
        return updated

    def _editable(self, who: Caller, product_id: str) -> dict[str, Any]:
        product = self.get(product_id, include_inactive=True)
        if who.role == "admin":
            return product
        if who.role == "vendor" and product_id in self.vendors.own(who).get("products", []):
            return product
        raise Forbidden("only admins and vendors offering this product may change it")

    def public(self, product_id: str) -> dict[str, Any]:
        """An active product as anyone may see it (no editors' user ids)."""
        return public_view(self.get(product_id))

    def list_products(
        self, category: str | None, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], Any]:
        items, last = self.repo.list_products(category, limit, cursor)
        return [public_view(p) for p in items], last

    # -- promos -----------------------------------------------------------------------------
    def create_promo(self, who: Caller, body: models.PromoBody, client: ClientInfo) -> dict[str, Any]:
        promo = {**body.model_dump(mode="json", exclude_none=True), "createdAt": _now(), "createdBy": who.user_id}
        self.repo.create_promo(promo, [audit.put_request(f"PROMO#{body.code}", "promo_create", Actor.of(who, client))])
        return {**promo, "uses": 0}

    def get_promo(self, code: str) -> dict[str, Any]:
        promo = self.repo.get_promo(code)
        if not promo:
            raise NotFound("promo not found")
        return promo

    def update_promo(self, code: str, body: models.PromoPatch) -> dict[str, Any]:
        changes = body.model_dump(mode="json", exclude_unset=True, exclude_none=True)
        if not changes:
            return self.get_promo(code)
        return self.repo.update_promo(code, changes)

    def deactivate_promo(self, code: str) -> dict[str, Any]:
        return self.repo.update_promo(code, {"active": False})

    def list_promos(self, limit: int, cursor: dict[str, Any] | None) -> tuple[list[dict[str, Any]], Any]:
        return self.repo.list_promos(limit, cursor)
