"""Vendor rules: admins create and deactivate; a vendor user manages its own profile."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.audit import repo as audit
from chalicelib.audit.repo import Actor
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.core.dynamo import Read, read_all
from chalicelib.core.errors import Conflict, Forbidden, NotFound, Unprocessable, ValidationError
from chalicelib.core.tx import Tagged
from chalicelib.users.repo import UsersRepo
from chalicelib.vendors.repo import VendorsRepo

if TYPE_CHECKING:
    from chalicelib.vendors import models


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _areas(areas: list[str]) -> list[str]:
    cleaned = list(dict.fromkeys(a.strip().upper() for a in areas))
    bad = [a for a in cleaned if not re.fullmatch(r"[A-Z0-9 -]{3,10}", a)]
    if bad:
        raise ValidationError("service areas must be pincodes", fields={"serviceAreas": f"invalid: {bad[0]}"})
    return cleaned


class ProductLookup(Protocol):
    """What vendors ask of the catalog (wired in bootstrap; no import between them)."""

    def products_read(self, product_ids: list[str]) -> Read[dict[str, dict[str, Any]]]: ...


@dataclass
class VendorService:
    repo: VendorsRepo
    users: UsersRepo
    catalog: ProductLookup

    def _known_products(self, product_ids: list[str]) -> list[str]:
        """Products offered must exist in the catalog (one BatchGetItem)."""
        ids = list(dict.fromkeys(product_ids))
        if ids:
            (found,) = read_all(self.catalog.products_read(ids))
            missing = set(ids) - set(found)
            if missing:
                raise Unprocessable(
                    "unknown products", fields={"products": f"not in the catalog: {sorted(missing)[0]}"}
                )
        return ids

    def create(self, who: Caller, body: models.VendorBody, client: ClientInfo) -> dict[str, Any]:
        vendor_id = uuid.uuid4().hex[:16]
        now = _now()
        vendor = {
            "vendorId": vendor_id,
            **body.model_dump(exclude={"serviceAreas", "products"}, exclude_none=True),
            "serviceAreas": _areas(body.serviceAreas),
            "products": self._known_products(body.products),
            "active": True,
            "version": 0,
            "createdAt": now,
            "updatedAt": now,
        }
        actor = Actor.of(who, client)
        requests = self.repo.save_requests(vendor, None)
        if body.ownerUserId:
            requests.append(self.users.link_vendor_request(body.ownerUserId, vendor_id))
        requests.append(audit.put_request(f"VENDOR#{vendor_id}", "vendor_create", actor, {"owner": body.ownerUserId}))
        self.repo.write(requests, f"vendor:{vendor_id}:v0")
        return vendor

    def get(self, vendor_id: str) -> dict[str, Any]:
        vendor = self.repo.get(vendor_id)
        if not vendor:
            raise NotFound("vendor not found")
        return vendor

    def by_pincode(self, pincode: str) -> list[dict[str, Any]]:
        vendors = [v for v in self.repo.by_pincode(pincode.strip().upper()) if v.get("active")]
        return sorted(vendors, key=lambda v: (-float(v.get("rating", 0)), v["name"]))

    def own(self, who: Caller) -> dict[str, Any]:
        if not who.vendor_id:
            raise Forbidden("your account is not linked to a vendor")
        return self.get(who.vendor_id)

    def update(self, who: Caller, vendor_id: str, body: models.VendorPatch, client: ClientInfo) -> dict[str, Any]:
        if who.role != "admin" and who.vendor_id != vendor_id:
            raise NotFound("vendor not found")
        current = self.get(vendor_id)
        changes = body.model_dump(exclude_unset=True, exclude={"version"})
        if "serviceAreas" in changes:
            changes["serviceAreas"] = _areas(changes["serviceAreas"])
        if "products" in changes:
            changes["products"] = self._known_products(changes["products"])
        return self._save(who, current, changes, body.version, client, "vendor_update")

    def set_active(self, who: Caller, vendor_id: str, active: bool, client: ClientInfo) -> dict[str, Any]:
        current = self.get(vendor_id)
        return self._save(
            who,
            current,
            {"active": active},
            int(current["version"]),
            client,
            "vendor_activate" if active else "vendor_deactivate",
        )

    def offer(self, vendor: dict[str, Any], product_id: str) -> list[Tagged]:
        """Transaction elements adding a product to what a vendor offers."""
        if product_id in vendor.get("products", []):
            return []
        updated = {
            **vendor,
            "products": [*vendor.get("products", []), product_id],
            "version": int(vendor["version"]) + 1,
            "updatedAt": _now(),
        }
        return self.repo.save_requests(updated, vendor)

    def _save(
        self,
        who: Caller,
        current: dict[str, Any],
        changes: dict[str, Any],
        expected_version: int,
        client: ClientInfo,
        action: str,
    ) -> dict[str, Any]:
        if expected_version != int(current["version"]):
            raise Conflict(
                "vendor changed since you read it; reload and retry",
                code="version_conflict",
                fields={"version": "stale"},
            )
        updated = {**current, **changes, "version": expected_version + 1, "updatedAt": _now()}
        actor = Actor.of(who, client)
        self.repo.write(
            [
                *self.repo.save_requests(updated, current),
                audit.put_request(f"VENDOR#{current['vendorId']}", action, actor, {"fields": sorted(changes)}),
            ],
            f"vendor:{current['vendorId']}:{uuid.uuid4().hex}",
        )
        return updated
