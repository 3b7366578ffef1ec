"""Placing an order: the pre-order check and placement (idempotent, all-or-nothing).

Placing costs four AWS calls whatever the number of lines: one BatchGetItem (the idempotency
record, the user, the products, the promo), one Query (vendors serving the pincode), one
BatchGetItem (their stock and today's load) and one TransactWriteItems that writes the order,
reserves every line (``available >= qty``), counts vendor load and promo use, bumps the user's
flags, stores the idempotency record and the audit row. Each domain hands out its own reads and
write intents; the batching is core's. Events come from the orders table's stream.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.audit import repo as audit
from chalicelib.audit.repo import Actor
from chalicelib.catalog.repo import CatalogRepo
from chalicelib.core import idempotency, logs, metrics, tx, uow
from chalicelib.core.config import get_settings
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.core.dynamo import read_all
from chalicelib.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from chalicelib.deliveries import slots
from chalicelib.inventory.repo import InventoryRepo
from chalicelib.orders import rules
from chalicelib.orders.repo import HOLD_PK, OrdersRepo, hold_until
from chalicelib.orders.views import view
from chalicelib.users.repo import UsersRepo
from chalicelib.users.rules import missing_profile_fields
from chalicelib.vendors.capacity import limits
from chalicelib.vendors.repo import VendorsRepo

if TYPE_CHECKING:
    from chalicelib.orders import models

IDEMPOTENCY_TTL = 24 * 3600
MAX_TX_RETRIES = 3
PROPOSED_SLOTS = 4  # /orders/check proposes the next slots with room among these


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Prepared:
    user: dict[str, Any]
    pincode: str
    currency: str
    lines: list[rules.Line]
    products: dict[str, dict[str, Any]]
    promo: dict[str, Any] | None
    idempotency: dict[str, Any] | None
    vendors: list[dict[str, Any]]
    stock: dict[tuple[str, str, str], int]
    loads: dict[tuple[str, str], dict[str, int]]  # (vendorId, deliveryDate) -> n and each slot's

    def space(self, day: str, slot: str) -> dict[str, int]:
        """Orders each candidate vendor can still take in that slot."""
        return {v["vendorId"]: rules.room(v, self.loads.get((v["vendorId"], day), {}), slot) for v in self.vendors}


@dataclass
class OrderPlacement:
    orders: OrdersRepo
    catalog: CatalogRepo
    vendors: VendorsRepo
    inventory: InventoryRepo
    users: UsersRepo

    # -- reading everything an order needs, in three calls -----------------------------------
    def _prepare(
        self,
        who: Caller,
        cart: models.Cart,
        address_id: str | None,
        pincode: str | None,
        days: list[str],
        idem_key: str | None = None,
        other_variants: bool = False,
    ) -> Prepared:
        product_ids = list(dict.fromkeys(i.productId for i in cart.items))
        user, products, promo, record = read_all(  # call 1
            self.users.profile_read(who.user_id),
            self.catalog.products_read(product_ids),
            self.catalog.promo_read(cart.promoCode),
            idempotency.request_read(idem_key),
        )
        if not user:
            raise NotFound("user not found")
        if address_id:
            address = next((a for a in user.get("addresses", []) if a.get("addressId") == address_id), None)
            if address is None:
                raise NotFound("address not found", fields={"addressId": "not one of your addresses"})
            pincode = address["pincode"]
        assert pincode is not None
        pincode = pincode.strip().upper()
        currency = cart.currency or get_settings().default_currency
        lines, problems = rules.price_lines(cart.items, products, currency)
        if problems:
            raise Unprocessable("some items cannot be ordered", fields=problems)

        serving = self.vendors.by_pincode(pincode)  # call 2
        candidates = rules.candidate_vendors(serving, set(product_ids), len(lines), len(days))
        triples = rules.stock_keys(candidates, lines, products, other_variants)
        stock, loads = read_all(  # call 3
            self.inventory.available_read(triples), self.vendors.loads_read([v["vendorId"] for v in candidates], days)
        )
        return Prepared(user, pincode, currency, lines, products, promo, record, candidates, stock, loads)

    def _totals(self, prep: Prepared, assigned: list[dict[str, Any]], promo_code: str | None) -> dict[str, Any]:
        subtotal = sum(int(line["lineTotal"]) for line in assigned)
        discount, promo_error = 0, None
        if promo_code:
            try:
                discount = rules.promo_discount(prep.promo, subtotal, prep.currency, _now())
            except rules.PromoProblem as exc:
                promo_error = str(exc)
        return {
            "currency": prep.currency,
            "subtotal": subtotal,
            "discount": discount,
            "total": subtotal - discount,
            "promoCode": promo_code if promo_code and not promo_error else None,
            "promoError": promo_error,
        }

    # -- pre-order check -------------------------------------------------------------------
    def check(self, who: Caller, body: models.OrderCheckBody) -> dict[str, Any]:
        now = _now()
        upcoming = slots.policy().upcoming(now, PROPOSED_SLOTS)
        asked = _slot(body, now)
        wanted = [(d.isoformat(), s) for d, s in dict.fromkeys([asked, *upcoming])]
        days = list(dict.fromkeys(d for d, _ in wanted))
        prep = self._prepare(who, body, body.addressId, body.pincode, days, other_variants=True)
        result = rules.assign(prep.lines, prep.vendors, prep.stock, prep.space(*wanted[0]), allow_partial=True)
        missing = missing_profile_fields(prep.user)
        if missing and not prep.user.get("profileCompletionPrompted"):
            self.users.mark_profile_prompted(who.user_id)
        lines_out = []
        for line in prep.lines:
            got = next(
                (a for a in result.lines if (a["productId"], a["variantId"]) == (line.productId, line.variantId)), None
            )
            available = int(got["quantity"]) if got else 0
            entry: dict[str, Any] = {
                "productId": line.productId,
                "variantId": line.variantId,
                "requested": line.quantity,
                "available": available,
                "unitPrice": line.unitPrice,
                "status": "available" if available >= line.quantity else ("partial" if available else "out_of_stock"),
            }
            if available < line.quantity:
                entry["alternatives"] = self._alternatives(prep, line, got["vendorId"] if got else None)
            lines_out.append(entry)
        return {
            "profile": {
                "isProfileComplete": not missing,
                "missingFields": missing,
                "profileCompletionPrompted": True if missing else bool(prep.user.get("profileCompletionPrompted")),
            },
            "pincode": prep.pincode,
            "serviceable": bool(prep.vendors),
            "lines": lines_out,
            "quote": self._totals(prep, result.lines, body.promoCode),
            "firstOrder": int(prep.user.get("orderCount", 0)) == 0,
            "delivery": {
                "deliveryDate": wanted[0][0],
                "deliverySlot": wanted[0][1],
                "hasRoom": self._fits(prep, *wanted[0]),
            },
            "deliverySlots": [  # the next slots the whole cart fits in
                {"deliveryDate": d.isoformat(), "deliverySlot": s}
                for d, s in upcoming
                if self._fits(prep, d.isoformat(), s)
            ],
        }

    @staticmethod
    def _fits(prep: Prepared, day: str, slot: str) -> bool:
        """Can the whole cart be delivered in that slot (by vendors with the stock and the room)?"""
        result = rules.assign(prep.lines, prep.vendors, prep.stock, prep.space(day, slot), allow_partial=False)
        return bool(result.lines) and not result.unavailable

    def _alternatives(self, prep: Prepared, line: rules.Line, chosen: str | None) -> dict[str, Any]:
        other_vendors = [
            {
                "vendorId": v["vendorId"],
                "name": v["name"],
                "available": prep.stock.get((line.productId, line.variantId, v["vendorId"]), 0),
            }
            for v in prep.vendors
            if v["vendorId"] != chosen and prep.stock.get((line.productId, line.variantId, v["vendorId"]), 0) > 0
        ]
        variants = []
        for variant in prep.products[line.productId]["variants"]:
            if variant["variantId"] == line.variantId or prep.currency not in variant.get("prices", {}):
                continue
            most = max(
                (prep.stock.get((line.productId, variant["variantId"], v["vendorId"]), 0) for v in prep.vendors),
                default=0,
            )
            if most >= line.quantity:
                variants.append(
                    {
                        "variantId": variant["variantId"],
                        "name": variant["name"],
                        "available": most,
                        "unitPrice": variant["prices"][prep.currency],
                    }
                )
        return {"vendors": other_vendors, "variants": variants}

    # -- placement -------------------------------------------------------------------------
    def place(
        self,
        who: Caller,
        body: models.OrderBody,
        key: str,
        client: ClientInfo,
        subscription_id: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """``subscription_id``: the subscription the scheduled job places this order for."""
        idem_key = f"order:{who.user_id}:{key}"
        body_hash = hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()

        def attempt() -> tuple[int, dict[str, Any]]:
            when = _slot(body, _now())
            prep = self._prepare(who, body, body.addressId, None, [when[0].isoformat()], idem_key=idem_key)
            if prep.idempotency:
                return self._replay(prep.idempotency, body_hash)
            placed = self._commit(
                who, body, prep, when, idem_key, body_hash, client, subscription_id
            )  # Contended: again
            metrics.count("OrdersPlaced", Service="orders")
            return 201, placed

        return uow.retrying(attempt, MAX_TX_RETRIES, "too much contention on these items; retry")

    def _replay(self, record: dict[str, Any], body_hash: str) -> tuple[int, dict[str, Any]]:
        if record.get("bodyHash") != body_hash:
            raise Unprocessable(
                "this Idempotency-Key was used with another body",
                code="idempotency_key_reused",
                fields={"Idempotency-Key": "reused with another body"},
            )
        return int(record["statusCode"]), json.loads(record["response"])

    def _commit(
        self,
        who: Caller,
        body: models.OrderBody,
        prep: Prepared,
        when: slots.Slot,
        idem_key: str,
        body_hash: str,
        client: ClientInfo,
        subscription_id: str | None = None,
    ) -> dict[str, Any]:
        s = get_settings()
        if not prep.vendors:
            raise Conflict(
                "no vendor delivers to this pincode",
                code="not_serviceable",
                fields={"addressId": f"pincode {prep.pincode} is not served"},
            )
        day, slot = when[0].isoformat(), when[1]
        space = prep.space(day, slot)
        result = rules.assign(prep.lines, prep.vendors, prep.stock, space, body.allowPartial)
        if (result.unavailable and not body.allowPartial) or not result.lines:
            roomy = rules.assign(prep.lines, prep.vendors, prep.stock, {v: 1 for v in space}, body.allowPartial)
            if roomy.lines and (body.allowPartial or not roomy.unavailable):
                raise Conflict(  # the stock is there, the room is not
                    f"the {slot} slot of {day} is full; ask /orders/check for the next slots with room",
                    code="slot_full",
                    fields={"deliverySlot": "full"},
                )
            raise Conflict(
                "some items are out of stock",
                code="out_of_stock",
                fields={
                    f"items.{i}": f"{u['available']} of {u['requested']} available"
                    for i, u in enumerate(result.unavailable)
                },
            )
        totals = self._totals(prep, result.lines, body.promoCode)
        if totals["promoError"]:
            raise Conflict(totals["promoError"], code="promo_invalid", fields={"promoCode": totals["promoError"]})
        now = _now()
        expires = int(now.timestamp()) + s.reservation_ttl_seconds
        order_id = uuid.uuid4().hex
        address = next(a for a in prep.user["addresses"] if a["addressId"] == body.addressId)
        order = {
            "orderId": order_id,
            "userId": who.user_id,
            "status": rules.PENDING_PAYMENT,
            "lines": result.lines,
            "unavailableLines": result.unavailable,
            "partialFulfillment": bool(result.unavailable),
            "vendorIds": result.vendor_ids,
            "currency": prep.currency,
            "subtotal": totals["subtotal"],
            "discount": totals["discount"],
            "total": totals["total"],
            "promoCode": totals["promoCode"],
            "address": {k: v for k, v in address.items() if k != "isDefault"},
            "paymentMethod": body.paymentMethod,
            "deliveryDate": day,
            "deliverySlot": slot,
            "specialInstructions": body.specialInstructions,
            "subscriptionId": subscription_id,
            "firstOrder": int(prep.user.get("orderCount", 0)) == 0,
            "reservation": {"status": "held", "expiresAt": expires},
            "history": [{"status": rules.PENDING_PAYMENT, "at": now.isoformat(), "by": who.user_id, "role": who.role}],
            "createdAt": now.isoformat(),
            "updatedAt": now.isoformat(),
            "createdKey": f"{now.isoformat()}#{order_id}",
            "day": now.date().isoformat(),
            "holdPk": HOLD_PK,
            "holdUntil": hold_until(expires),
            "correlationId": logs.correlation_id.get(),
        }
        response = view({k: v for k, v in order.items() if v is not None})
        reserves = [
            self.inventory.reserve_request(
                line["productId"], line["variantId"], line["vendorId"], int(line["quantity"])
            )
            for line in result.lines
        ]
        by_id = {v["vendorId"]: v for v in prep.vendors}
        kept_until = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) + 3 * 86400
        loads = [
            self.vendors.load_requests(v, day, slot, limits(by_id[v], slot), kept_until) for v in result.vendor_ids
        ]
        promo = self.catalog.promo_use_requests(prep.promo, who.user_id) if totals["promoCode"] and prep.promo else []
        customer = self.users.order_placed_request(who.user_id, now.isoformat(), body.paymentMethod)
        record = idempotency.record_request(idem_key, body_hash, 201, response, IDEMPOTENCY_TTL)
        placed = audit.put_request(
            f"ORDER#{order_id}",
            "order_placed",
            Actor.of(who, client),
            {"total": totals["total"], "currency": prep.currency},
        )
        order_item = self.orders.put_request({k: v for k, v in order.items() if v is not None})
        try:  # call 4
            tx.commit([order_item, *reserves, *loads, *promo, customer, record, placed], f"order:{order_id}")
        except tx.Cancelled as exc:
            if exc.conflict or exc.hit(*loads):
                raise uow.Contended from None  # another transaction held an item, or a vendor filled up: assign again
            if exc.hit(record):  # a concurrent copy of this request committed: replay its answer
                raise uow.Contended from None
            short = {f"items.{i}": "out of stock" for i, r in enumerate(reserves) if exc.hit(r)}
            if short:
                raise Conflict("some items are out of stock", code="out_of_stock", fields=short) from None
            if exc.hit(*promo):
                raise Conflict(
                    "promo code is used up or already used by you",
                    code="promo_exhausted",
                    fields={"promoCode": "no uses left"},
                ) from None
            if exc.hit(customer):
                raise Forbidden("account is not active") from None
            raise Conflict("order could not be placed; retry", code="conflict") from None
        return response


def _slot(body: models.Delivery, now: datetime) -> slots.Slot:
    """The (date, slot) asked for, checked against the slot policy; the earliest open one when
    none is asked for."""
    policy = slots.policy()
    if body.deliveryDate is None or body.deliverySlot is None:
        return policy.upcoming(now, 1)[0]
    problem = policy.problem(body.deliveryDate, body.deliverySlot, now)
    if problem:
        raise Unprocessable("this delivery slot cannot be ordered", fields={problem[0]: problem[1]})
    return body.deliveryDate, body.deliverySlot
