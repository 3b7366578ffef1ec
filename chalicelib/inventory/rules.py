"""Pure stock rules: reconciliation of the counters with what the orders and the change log say,
and the low-stock rows. No I/O."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Key = tuple[str, str, str]  # (productId, variantId, vendorId)
COUNTERS = ("available", "reserved")


def _key(row: dict[str, Any]) -> Key:
    return (str(row["productId"]), str(row["variantId"]), str(row["vendorId"]))


def stock_drift(
    rows: Iterable[dict[str, Any]], supplied: dict[Key, int], use: dict[Key, dict[str, int]]
) -> list[dict[str, Any]]:
    """Each counter that differs from its recomputation, as ``{productId, variantId, vendorId,
    counter, expected, actual}`` (``actual`` None: the orders name a row that does not exist).

    - reserved = units of the unpaid orders on the row;
    - available = units supplied (the change log) - reserved - sold (paid orders not cancelled).
    """
    by_key = {_key(r): r for r in rows}
    out = []
    for key in sorted(set(by_key) | set(use)):
        row = by_key.get(key)
        counts = use.get(key, {})
        reserved, sold = int(counts.get("reserved", 0)), int(counts.get("sold", 0))
        expected = {"reserved": reserved, "available": supplied.get(key, 0) - reserved - sold}
        for counter in COUNTERS:
            actual = int(row[counter]) if row is not None and counter in row else None
            if actual != expected[counter] and not (actual is None and expected[counter] == 0):
                out.append(
                    {
                        "productId": key[0],
                        "variantId": key[1],
                        "vendorId": key[2],
                        "counter": counter,
                        "expected": expected[counter],
                        "actual": actual,
                    }
                )
    return out


def _gap(row: dict[str, Any]) -> tuple[str, str, str, str, int | None]:
    actual = row["actual"]
    gap = None if actual is None else int(row["expected"]) - int(actual)
    return (row["productId"], row["variantId"], row["vendorId"], row["counter"], gap)


def confirmed(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The drift seen by two passes with the same gap. The reads are not one snapshot: an order
    that moved between reading the rows and reading the orders shows a gap in one pass only,
    while a real drift keeps its gap whatever orders come and go."""
    seen = {_gap(r) for r in first}
    return [r for r in second if _gap(r) in seen]


def low_stock(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows under their threshold, in the seeds' alert shape (``LOW_STOCK`` / ``WARNING``)."""
    out = []
    for r in rows:
        threshold = int(r.get("lowStockThreshold", 0))
        if int(r["available"]) < threshold:
            out.append(
                {
                    "alertType": "LOW_STOCK",
                    "severity": "WARNING",
                    "productId": r["productId"],
                    "vendorId": r["vendorId"],
                    "variantId": r["variantId"],
                    "currentStock": int(r["available"]),
                    "threshold": threshold,
                }
            )
    return sorted(out, key=lambda x: (x["currentStock"], x["productId"], x["variantId"], x["vendorId"]))
