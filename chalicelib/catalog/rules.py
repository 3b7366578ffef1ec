"""Pure catalog rules. No I/O."""

from __future__ import annotations

from typing import Any


def find_variant(product: dict[str, Any], variant_id: str) -> dict[str, Any] | None:
    return next((v for v in product.get("variants", []) if v["variantId"] == variant_id), None)


STAFF_FIELDS = ("createdBy", "updatedBy")  # user ids of who edited: for editors, not the public


def public_view(product: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in product.items() if k not in STAFF_FIELDS}
