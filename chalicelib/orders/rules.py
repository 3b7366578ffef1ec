"""Pure order rules: the status machine, pricing, and vendor assignment. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.catalog.rules import find_variant
from chalicelib.core.errors import Unprocessable, ValidationError
from chalicelib.vendors.capacity import limits

PENDING_PAYMENT, PAID, APPROVED, DISPATCHED, DELIVERED = (
    "PENDING_PAYMENT",
    "PAID",
    "APPROVED",
    "DISPATCHED",
    "DELIVERED",
)
CANCELLED, REJECTED, EXPIRED = "CANCELLED", "REJECTED", "EXPIRED"

# The order's status is its fulfilment only; what was refunded of it is its own axis, the
# ``refund`` field (``refund_after``), as Shopify keeps financial_status beside fulfillment_status.
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING_PAYMENT: frozenset({PAID, CANCELLED, REJECTED, EXPIRED}),
    PAID: frozenset({APPROVED, CANCELLED, REJECTED}),
    APPROVED: frozenset({DISPATCHED, CANCELLED}),
    DISPATCHED: frozenset({DELIVERED}),
    DELIVERED: frozenset(),
    CANCELLED: frozenset(),  # a paid one is refunded in full by the payments domain (``refund.owed``)
    REJECTED: frozenset(),
    EXPIRED: frozenset(),
}
# Stock is held (reserved) while unpaid, committed once paid.
HOLDS_STOCK = frozenset({PENDING_PAYMENT})
COMMITTED_STOCK = frozenset({PAID, APPROVED})
# Where an order's units can be, for stock reconciliation: held while unpaid, sold once paid.
# EXPIRED, CANCELLED and REJECTED orders hold nothing (released, or restocked once paid).
STOCK_USE_STATUSES = (PENDING_PAYMENT, PAID, APPROVED, DISPATCHED, DELIVERED)

# -- the refund axis -------------------------------------------------------------------------
# ``refund``: {status, amount (refunded so far), owed (still to refund), currency}.
#   PARTIAL: some of it refunded; DONE: all of it; REQUIRED: a paid order cancelled or rejected
#   whose money is not all back yet (``owed``; the payments domain refunds it by itself).
REFUND_PARTIAL, REFUND_DONE, REFUND_REQUIRED = "PARTIAL", "DONE", "REQUIRED"
# Statuses of the time refunds were mixed into the fulfilment status (``legacy_split``).
LEGACY_REFUNDED, LEGACY_PARTIALLY_REFUNDED = "REFUNDED", "PARTIALLY_REFUNDED"


def refund_after(order: dict[str, Any], refunded: int) -> dict[str, Any]:
    """The order's refund state once ``refunded`` (in all) is back: a cancelled or rejected paid
    order still owes the rest."""
    total, prev = int(order["total"]), order.get("refund") or {}
    owing = prev.get("status") == REFUND_REQUIRED or order["status"] in (CANCELLED, REJECTED)
    status = REFUND_DONE if refunded >= total else REFUND_REQUIRED if owing else REFUND_PARTIAL
    owed = total - refunded if status == REFUND_REQUIRED else 0
    return {"status": status, "amount": refunded, "owed": owed, "currency": order["currency"]}


def refund_on_cancel(order: dict[str, Any]) -> dict[str, Any]:
    """A paid order cancelled or rejected: what is not refunded yet is owed."""
    refunded = int((order.get("refund") or {}).get("amount", 0))
    return refund_after({**order, "status": CANCELLED}, refunded)


def legacy_split(order: dict[str, Any]) -> dict[str, Any] | None:
    """An order stored when refunds were in its status (REFUNDED, PARTIALLY_REFUNDED) or when
    ``refund.amount`` of a REQUIRED refund was what was owed, as the fields it has now: the
    fulfilment status it had before its refunds, and its ``refund``. None when already current."""
    legacy = (LEGACY_REFUNDED, LEGACY_PARTIALLY_REFUNDED)
    old = order.get("refund") or {}
    if order["status"] not in legacy and (not old or "owed" in old):
        return None
    before = [h["status"] for h in order.get("history", []) if h.get("status") not in legacy]
    status = (before[-1] if before else PAID) if order["status"] in legacy else order["status"]
    if order["status"] == LEGACY_REFUNDED:
        refunded = int(order["total"])
    else:
        refunded = 0 if old.get("status") == REFUND_REQUIRED else int(old.get("amount", 0))
    return {"status": status, "refund": refund_after({**order, "status": status, "refund": None}, refunded)}


def stock_use(order: dict[str, Any]) -> str | None:
    """``"reserved"``, ``"sold"`` or None: what the order's lines count as on their stock rows.
    A refund never moves stock; only a cancel or reject of a paid order puts units back."""
    if order["status"] in HOLDS_STOCK:
        return "reserved"
    seen = {h.get("status") for h in order.get("history", [])} | {order["status"]}
    if PAID in seen and not seen & {CANCELLED, REJECTED}:
        return "sold"
    return None


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


# -- pricing ---------------------------------------------------------------------------------
class PromoProblem(Exception):
    pass


def promo_discount(promo: dict[str, Any] | None, subtotal: int, currency: str, now: datetime) -> int:
    """Discount in minor units, or PromoProblem saying why the code does not apply."""
    if promo is None:
        raise PromoProblem("unknown promo code")
    if not promo.get("active"):
        raise PromoProblem("promo code is not active")
    if not datetime.fromisoformat(promo["validFrom"]) <= now <= datetime.fromisoformat(promo["validTo"]):
        raise PromoProblem("promo code is not valid now")
    if int(promo.get("uses", 0)) >= int(promo["maxUses"]):
        raise PromoProblem("promo code is used up")
    if promo.get("currency") and promo["currency"] != currency and (promo["kind"] == "fixed" or promo.get("minOrder")):
        raise PromoProblem(f"promo code applies to {promo['currency']} orders")
    if subtotal < int(promo.get("minOrder", 0)):
        raise PromoProblem(f"order must be at least {promo['minOrder']} to use this code")
    if promo["kind"] == "percent":
        return subtotal * int(promo["value"]) // 100
    return min(int(promo["value"]), subtotal)


# -- assignment -------------------------------------------------------------------------------
@dataclass
class Line:
    productId: str
    variantId: str
    quantity: int
    unitPrice: int
    name: str
    variantName: str


@dataclass
class Assignment:
    lines: list[dict[str, Any]] = field(default_factory=list)
    unavailable: list[dict[str, Any]] = field(default_factory=list)
    vendor_ids: list[str] = field(default_factory=list)


def candidate_vendors(
    vendors: list[dict[str, Any]], product_ids: set[str], lines: int, days: int = 1
) -> list[dict[str, Any]]:
    """Active vendors offering any cart product, best first (rating), capped so that every
    (line, vendor) stock key plus each vendor's load key per date asked fits one BatchGetItem
    (100 keys)."""
    usable = [v for v in vendors if v.get("active") and product_ids & set(v.get("products", []))]
    usable.sort(key=lambda v: (-float(v.get("rating", 0)), v["vendorId"]))
    return usable[: max(1, 100 // (lines + days))]


def room(vendor: dict[str, Any], load: dict[str, int], slot: str) -> int:
    """Orders a vendor can still take for one date's slot, given what it delivers then."""
    daily, in_slot = limits(vendor, slot)
    return max(0, min(daily - int(load.get("n", 0)), in_slot - int(load.get(slot, 0))))


def assign(
    lines: list[Line],
    vendors: list[dict[str, Any]],
    stock: dict[tuple[str, str, str], int],
    space: dict[str, int],
    allow_partial: bool,
) -> Assignment:
    """Each line goes to ONE vendor that offers it, has room in the slot (``space``: orders it can
    still take) and the full quantity: best rating, then most room. Without one, the line is
    unavailable (with allow_partial: the most any single vendor has)."""
    out = Assignment()
    chosen: set[str] = set()

    def has_capacity(v: dict[str, Any]) -> bool:
        return v["vendorId"] in chosen or space.get(v["vendorId"], 0) > 0

    for line in lines:
        offering = [v for v in vendors if line.productId in v.get("products", []) and has_capacity(v)]
        have = {v["vendorId"]: stock.get((line.productId, line.variantId, v["vendorId"]), 0) for v in offering}
        full = [v for v in offering if have[v["vendorId"]] >= line.quantity]
        full.sort(key=lambda v: (-float(v.get("rating", 0)), -space.get(v["vendorId"], 0), v["vendorId"]))
        qty, vendor = line.quantity, full[0] if full else None
        best_partial = max(offering, key=lambda v: have[v["vendorId"]], default=None)
        if vendor is None and allow_partial and best_partial is not None and have[best_partial["vendorId"]] > 0:
            vendor, qty = best_partial, have[best_partial["vendorId"]]
        if vendor is None or qty < line.quantity:
            most = max(have.values(), default=0)
            out.unavailable.append(
                {
                    "productId": line.productId,
                    "variantId": line.variantId,
                    "requested": line.quantity,
                    "available": most,
                    "reason": "partial" if most else "out_of_stock",
                }
            )
        if vendor is not None:
            chosen.add(vendor["vendorId"])
            out.lines.append(
                {
                    "productId": line.productId,
                    "variantId": line.variantId,
                    "quantity": qty,
                    "requested": line.quantity,
                    "vendorId": vendor["vendorId"],
                    "name": line.name,
                    "variantName": line.variantName,
                    "unitPrice": line.unitPrice,
                    "lineTotal": line.unitPrice * qty,
                }
            )
    out.vendor_ids = sorted(chosen)
    return out


# -- lines and stock keys ------------------------------------------------------------------
def price_lines(
    items: list[Any], products: dict[str, dict[str, Any]], currency: str
) -> tuple[list[Line], dict[str, str]]:
    """Cart items priced from the catalog (never from the client), and what is wrong with the
    ones that cannot be ordered, by field."""
    lines, problems = [], {}
    for i, item in enumerate(items):
        product = products.get(item.productId)
        if not product or not product.get("active"):
            problems[f"items.{i}.productId"] = "unknown or inactive product"
            continue
        variant = find_variant(product, item.variantId)
        if variant is None:
            problems[f"items.{i}.variantId"] = "not a variant of this product"
            continue
        price = variant.get("prices", {}).get(currency)
        if price is None:
            problems[f"items.{i}.variantId"] = f"no price in {currency}"
            continue
        lines.append(Line(item.productId, item.variantId, item.quantity, int(price), product["name"], variant["name"]))
    return lines, problems


def stock_keys(
    vendors: list[dict[str, Any]], lines: list[Line], products: dict[str, dict[str, Any]], other_variants: bool
) -> list[tuple[str, str, str]]:
    """(product, variant, vendor) of every stock row the assignment may use; with
    ``other_variants``, every variant of each product (the check proposes alternatives)."""
    out: list[tuple[str, str, str]] = []
    for v in vendors:
        for line in lines:
            if line.productId not in v.get("products", []):
                continue
            variants = (
                [x["variantId"] for x in products[line.productId]["variants"]] if other_variants else [line.variantId]
            )
            out += [(line.productId, variant_id, v["vendorId"]) for variant_id in variants]
    return out


# -- listing filters -------------------------------------------------------------------------
@dataclass(frozen=True)
class OrderFilter:
    """What a manager may filter orders by (``GET /orders``); customers give none of them."""

    status: str | None = None
    start: str | None = None  # ISO date or time, inclusive
    end: str | None = None
    user_id: str | None = None
    day: str | None = None

    def any(self) -> bool:
        return any((self.status, self.start, self.end, self.user_id, self.day))

    @classmethod
    def of(
        cls,
        status: str | None = None,
        start: str | None = None,
        end: str | None = None,
        user_id: str | None = None,
        day: str | None = None,
    ) -> OrderFilter:
        """From parameters the edge has checked for shape (UTC instants, a date): the rules that
        join them. An unknown status is a 400; from/to not both given, or from after to, a 422."""
        if status and status not in TRANSITIONS:
            raise ValidationError("unknown status", fields={"status": f"one of {sorted(TRANSITIONS)}"})
        if (start is None) != (end is None):
            raise Unprocessable(
                "give both from and to", fields={"from" if start is None else "to": "required with the other"}
            )
        if start is not None and end is not None and start > end:
            raise Unprocessable("from must not be after to", fields={"from": "after to"})
        if start is not None and not (status or user_id):  # byDay is one partition per day
            raise Unprocessable(
                "from/to narrow a status or userId listing; day= lists one day",
                fields={"from": "needs status or userId"},
            )
        return cls(status or None, start, end, user_id or None, day or None)
