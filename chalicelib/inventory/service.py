"""Stock changes by vendors and admins, each logged; reads for the owner or an admin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.audit.repo import Actor
from chalicelib.catalog.rules import find_variant
from chalicelib.catalog.service import CatalogService
from chalicelib.core.config import get_settings
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from chalicelib.inventory.repo import InventoryRepo, now_iso
from chalicelib.vendors.service import VendorService

if TYPE_CHECKING:
    from chalicelib.inventory import models


@dataclass
class InventoryService:
    repo: InventoryRepo
    catalog: CatalogService
    vendors: VendorService

    def _vendor_for(self, who: Caller, vendor_id: str | None) -> dict[str, Any]:
        if who.role == "vendor":
            if vendor_id and vendor_id != who.vendor_id:
                raise Forbidden("vendors change only their own stock", fields={"vendorId": "not yours"})
            return self.vendors.own(who)
        if not vendor_id:
            raise Unprocessable("admins name the vendor", fields={"vendorId": "required for admins"})
        return self.vendors.get(vendor_id)

    def change(self, who: Caller, body: models.StockChange, client: ClientInfo) -> dict[str, Any]:
        vendor = self._vendor_for(who, body.vendorId)
        product = self.catalog.get(body.productId, include_inactive=True)
        if not find_variant(product, body.variantId):
            raise NotFound("variant not found", fields={"variantId": "not a variant of this product"})
        if body.productId not in vendor.get("products", []):
            raise Conflict("the vendor does not offer this product", fields={"productId": "not offered"})
        current = self.repo.get(body.productId, body.variantId, vendor["vendorId"])
        old = int(current["available"]) if current else None
        new = body.set if body.set is not None else (old or 0) + (body.delta or 0)
        if new < 0:
            raise Conflict(f"only {old or 0} available", fields={"delta": "would go below zero"})
        threshold = body.lowStockThreshold
        if threshold is None:
            threshold = int(current["lowStockThreshold"]) if current else get_settings().low_stock_threshold
        actor = Actor.of(who, client)
        log = {
            "productId": body.productId,
            "variantId": body.variantId,
            "vendorId": vendor["vendorId"],
            "delta": new - (old or 0),
            "reason": body.reason,
            "by": actor.user_id,
            "role": actor.role,
            "at": now_iso(),
        }
        atomic = body.delta if old is not None and body.delta is not None else None
        if atomic is not None:
            log["delta"] = atomic
        self.repo.change(body.productId, body.variantId, vendor["vendorId"], old, new, threshold, log, [], atomic)
        stock = self.repo.get(body.productId, body.variantId, vendor["vendorId"])
        assert stock is not None
        return stock

    def list_page(
        self, who: Caller, vendor_id: str | None, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], Any]:
        if who.role == "vendor":
            if not who.vendor_id:
                raise Forbidden("your account is not linked to a vendor")
            vendor_id = who.vendor_id
        return self.repo.list_page(vendor_id, limit, cursor)

    def log(self, who: Caller, vendor_id: str | None) -> list[dict[str, Any]]:
        return self.repo.log(self._vendor_for(who, vendor_id)["vendorId"])
