"""Pure catalog rules. No I/O."""

from __future__ import annotations

from typing import Any


def find_variant(product: dict[str, Any], variant_id: str) -> dict[str, Any] | None:
    return next((v for v in product.get("variants", []) if v["variantId"] == variant_id), None)
