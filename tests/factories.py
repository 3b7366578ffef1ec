"""Build a small shop through the API: an admin, vendors serving a pincode, products, stock,
and customers with an address."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Api, json_body

PINCODE = "560001"
ADDRESS = {
    "label": "home",
    "line1": "1 MG Road",
    "city": "Bengaluru",
    "state": "KA",
    "pincode": PINCODE,
    "country": "IN",
}


class Shop:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.admin = api.user("root", role="admin")["accessToken"]

    def ok(self, method: str, path: str, body: Any = None, token: str | None = None, status: int = 200) -> Any:
        resp = self.api.call(method, path, body, token=token or self.admin)
        assert resp.status_code == status, (method, path, resp.status_code, resp.body)
        return json_body(resp)

    def product(
        self, name: str = "Milk", prices: dict[str, int] | None = None, variants: int = 1, category: str = "dairy"
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "category": category,
            "description": "fresh",
            "imageUrl": "https://img.example.com/milk.png",
            "variants": [
                {
                    "name": f"{500 * (i + 1)}ml",
                    "unit": "ml",
                    "sku": f"{name[:3].upper()}-{i}-{uuid.uuid4().hex[:4]}",
                    "prices": prices or {"INR": 3000 * (i + 1), "USD": 50 * (i + 1)},
                }
                for i in range(variants)
            ],
        }
        return self.ok("POST", "/products", body, status=201)

    def vendor(self, products: list[str], **fields: Any) -> dict[str, Any]:
        """A vendor serving PINCODE (fields: see ``vendor_body``)."""
        return self.ok("POST", "/vendors", vendor_body(products, **fields), status=201)

    def stock(
        self, product: dict[str, Any], vendor: dict[str, Any], qty: int, variant: int = 0, threshold: int | None = None
    ) -> dict[str, Any]:
        body = {
            "productId": product["productId"],
            "variantId": product["variants"][variant]["variantId"],
            "vendorId": vendor["vendorId"],
            "set": qty,
            "reason": "restock",
            **({"lowStockThreshold": threshold} if threshold is not None else {}),
        }
        return self.ok("POST", "/inventory/adjust", body)

    def promo(self, code: str, **fields: Any) -> dict[str, Any]:
        body = {
            "code": code,
            "kind": "percent",
            "value": 10,
            "validFrom": "2020-01-01T00:00:00Z",
            "validTo": "2099-01-01T00:00:00Z",
            "maxUses": 100,
            **fields,
        }
        return self.ok("POST", "/promos", body, status=201)

    def customer(self, name: str) -> tuple[str, str]:
        """A logged-in customer with a complete profile; returns (token, addressId)."""
        token = self.api.user(name)["accessToken"]
        self.ok("PATCH", "/users/me", {"name": name.title(), "phone": "+91 98765 43210"}, token=token)
        address = self.ok("POST", "/users/me/addresses", ADDRESS, token=token, status=201)
        return token, address["addressId"]

    def available(self, product: dict[str, Any], vendor: dict[str, Any], variant: int = 0) -> tuple[int, int]:
        from chalicelib.inventory.repo import InventoryRepo

        row = InventoryRepo().get(product["productId"], product["variants"][variant]["variantId"], vendor["vendorId"])
        assert row is not None
        return int(row["available"]), int(row["reserved"])


def line(product: dict[str, Any], qty: int, variant: int = 0) -> dict[str, Any]:
    return {"productId": product["productId"], "variantId": product["variants"][variant]["variantId"], "quantity": qty}


def vendor_body(
    products: list[str],
    name: str = "Dairy One",
    rating: float = 4.0,
    limit: int = 1000,
    areas: list[str] | None = None,
    owner: str | None = None,
    slots: dict[str, int] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "contact": {"email": "v@example.com", "phone": "+91 80 1234 5678"},
        "address": {
            "line1": "2 Dairy Lane",
            "city": "Bengaluru",
            "state": "KA",
            "pincode": PINCODE,
            "country": "IN",
            "lat": 12.97,
            "lng": 77.59,
        },
        "serviceAreas": areas or [PINCODE],
        "products": products,
        "capacity": {"dailyOrderLimit": limit, **({"slots": slots} if slots else {})},
        "rating": rating,
        **({"ownerUserId": owner} if owner else {}),
    }
