"""Order rules: pre-order check, placement (idempotent, all-or-nothing), the status machine.

Placing an order costs four AWS calls whatever the number of lines: one BatchGetItem (the
idempotency record, the user, the products, the promo), one Query (vendors serving the pincode),
one BatchGetItem (their stock and today's load) and one TransactWriteItems that writes the order,
reserves every line (``available >= qty``), counts vendor load and promo use, bumps the user's
flags, stores the idempotency record and the audit row. Events come from the table's stream.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.audit import repo as audit
from chalicelib.audit.repo import Actor
from chalicelib.catalog.repo import CatalogRepo, product_key, promo_key
from chalicelib.catalog.service import find_variant
from chalicelib.core import aws, idempotency, logs, tx
from chalicelib.core.config import get_settings
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.core.dynamo import batch_get
from chalicelib.core.errors import Conflict, Forbidden, NotFound, Unprocessable, ValidationError
from chalicelib.core.tx import Tagged
from chalicelib.inventory.repo import InventoryRepo
from chalicelib.orders import rules
from chalicelib.orders.repo import HOLD_PK, OrdersRepo, hold_until
from chalicelib.users.repo import UsersRepo, user_key
from chalicelib.users.rules import missing_profile_fields
from chalicelib.vendors.repo import VendorsRepo

if TYPE_CHECKING:
    from chalicelib.orders import models

IDEMPOTENCY_TTL = 24 * 3600
MAX_TX_RETRIES = 3
INTERNAL_FIELDS = ("holdPk", "holdUntil", "createdKey", "day", "correlationId")


def _now() -> datetime:
    return datetime.now(UTC)


def view(order: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in order.items() if k not in INTERNAL_FIELDS}


def vendor_view(order: dict[str, Any], vendor_id: str) -> dict[str, Any]:
    """A vendor sees its own lines and where to deliver them, nothing else of the order."""
    keep = ("orderId", "status", "createdAt", "updatedAt", "address", "currency")
    return {
        **{k: order[k] for k in keep if k in order},
        "lines": [line for line in order["lines"] if line["vendorId"] == vendor_id],
    }


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
    load: dict[str, int]


@dataclass
class OrderService:
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
        idem_key: str | None = None,
        other_variants: bool = False,
    ) -> Prepared:
        s = get_settings()
        ddb = aws.client("dynamodb")
        product_ids = list(dict.fromkeys(i.productId for i in cart.items))
        catalog_keys = [product_key(p) for p in product_ids]
        if cart.promoCode:
            catalog_keys.append(promo_key(cart.promoCode))
        request: dict[str, Any] = {
            s.users_table: {"Keys": [user_key(who.user_id)]},
            s.catalog_table: {"Keys": catalog_keys},
        }
        if idem_key:
            request.update(idempotency.read_request(idem_key))
        found = batch_get(ddb, request)  # call 1
        users = [u for u in found[s.users_table] if u.get("sk") == "PROFILE"]
        if not users:
            raise NotFound("user not found")
        user = users[0]
        products = {p["productId"]: p for p in found[s.catalog_table] if str(p.get("pk", "")).startswith("PRODUCT#")}
        promos = [p for p in found[s.catalog_table] if str(p.get("pk", "")).startswith("PROMO#")]
        records = found.get(s.idempotency_table) or []

        if address_id:
            address = next((a for a in user.get("addresses", []) if a.get("addressId") == address_id), None)
            if address is None:
                raise NotFound("address not found", fields={"addressId": "not one of your addresses"})
            pincode = address["pincode"]
        assert pincode is not None
        pincode = pincode.strip().upper()
        currency = cart.currency or s.default_currency

        lines, problems = [], {}
        for i, item in enumerate(cart.items):
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
            lines.append(
                rules.Line(item.productId, item.variantId, item.quantity, int(price), product["name"], variant["name"])
            )
        if problems:
            raise Unprocessable("some items cannot be ordered", fields=problems)

        serving = self.vendors.by_pincode(pincode)  # call 2
        candidates = rules.candidate_vendors(serving, set(product_ids), len(lines))
        triples: list[tuple[str, str, str]] = []
        for v in candidates:
            for line in lines:
                if line.productId not in v.get("products", []):
                    continue
                variants = (
                    [x["variantId"] for x in products[line.productId]["variants"]]
                    if other_variants
                    else [line.variantId]
                )
                triples += [(line.productId, variant_id, v["vendorId"]) for variant_id in variants]
        day = _now().date().isoformat()
        stock_request = (
            {**self.inventory.keys(triples), **self.vendors.load_keys([v["vendorId"] for v in candidates], day)}
            if candidates
            else {}
        )
        rows = batch_get(ddb, stock_request) if stock_request else {}  # call 3
        stock = {
            (r["productId"], r["variantId"], r["vendorId"]): int(r["available"])
            for r in rows.get(s.inventory_table, [])
        }
        load = {str(r["pk"]).removeprefix("VENDOR#"): int(r.get("n", 0)) for r in rows.get(s.vendors_table, [])}
        return Prepared(
            user,
            pincode,
            currency,
            lines,
            products,
            promos[0] if promos else None,
            records[0] if records else None,
            candidates,
            stock,
            load,
        )

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
    def check(self, who: Caller, body: models.CheckBody) -> dict[str, Any]:
        prep = self._prepare(who, body, body.addressId, body.pincode, other_variants=True)
        result = rules.assign(prep.lines, prep.vendors, prep.stock, prep.load, allow_partial=True)
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
        }

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
        self, who: Caller, body: models.OrderBody, key: str | None, client: ClientInfo
    ) -> tuple[int, dict[str, Any]]:
        if not key:
            raise ValidationError("Idempotency-Key header is required", fields={"Idempotency-Key": "required"})
        if len(key) > 100 or not key.isprintable():
            raise ValidationError("Idempotency-Key is too long or not printable", fields={"Idempotency-Key": "invalid"})
        idem_key = f"order:{who.user_id}:{key}"
        body_hash = hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
        for attempt in range(MAX_TX_RETRIES):
            prep = self._prepare(who, body, body.addressId, None, idem_key=idem_key)
            if prep.idempotency:
                return self._replay(prep.idempotency, body_hash)
            try:
                return 201, self._commit(who, body, prep, idem_key, body_hash, client)
            except _Retry:
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311 - jitter, not crypto
        raise Conflict("too much contention on these items; retry", code="contention")

    def _replay(self, record: dict[str, Any], body_hash: str) -> tuple[int, dict[str, Any]]:
        if record.get("bodyHash") != body_hash:
            raise Unprocessable(
                "this Idempotency-Key was used with another body",
                code="idempotency_key_reused",
                fields={"Idempotency-Key": "reused with another body"},
            )
        return int(record["statusCode"]), json.loads(record["response"])

    def _commit(
        self, who: Caller, body: models.OrderBody, prep: Prepared, idem_key: str, body_hash: str, client: ClientInfo
    ) -> dict[str, Any]:
        s = get_settings()
        if not prep.vendors:
            raise Conflict(
                "no vendor delivers to this pincode",
                code="not_serviceable",
                fields={"addressId": f"pincode {prep.pincode} is not served"},
            )
        result = rules.assign(prep.lines, prep.vendors, prep.stock, prep.load, body.allowPartial)
        if (result.unavailable and not body.allowPartial) or not result.lines:
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
        limits = {v["vendorId"]: int(v.get("capacity", {}).get("dailyOrderLimit", 0)) for v in prep.vendors}
        loads = [self.vendors.load_requests(v, order["day"], limits[v], expires + 2 * 86400) for v in result.vendor_ids]
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
                raise _Retry from None  # another transaction held an item, or a vendor filled up: assign again
            if exc.hit(record):
                raise Conflict(
                    "a request with this Idempotency-Key is in flight or just completed; retry it",
                    code="duplicate_request",
                    fields={"Idempotency-Key": "in use"},
                ) from None
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

    # -- reading ---------------------------------------------------------------------------
    def get(self, who: Caller, order_id: str, client: ClientInfo) -> dict[str, Any]:
        order = self._visible(who, order_id)
        if order["status"] == rules.PENDING_PAYMENT and int(order["reservation"]["expiresAt"]) <= time.time():
            order = self.expire(order, Actor("system", "system", client.ip, "expiry-on-read")) or self._load(order_id)
        if who.role == "vendor" and order["userId"] != who.user_id:
            return vendor_view(order, who.vendor_id)
        return view(order)

    def _load(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if not order:
            raise NotFound("order not found")
        return order

    def _visible(self, who: Caller, order_id: str) -> dict[str, Any]:
        """Owner, admin, manager, or a vendor with lines in it; anyone else gets a 404."""
        order = self.orders.get(order_id)
        if order and (
            order["userId"] == who.user_id
            or who.role in ("admin", "manager")
            or (who.role == "vendor" and who.vendor_id and who.vendor_id in order.get("vendorIds", []))
        ):
            return order
        raise NotFound("order not found")

    def list_page(
        self, who: Caller, params: dict[str, str], limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        if who.role not in ("admin", "manager"):
            if set(params) - {"limit", "cursor"}:
                raise Forbidden("only managers and admins filter orders")
            items, last = self.orders.query("byUser", "userId", who.user_id, limit, cursor)
            return [view(o) for o in items], last
        start, end = params.get("from"), params.get("to")
        for name, value in (("from", start), ("to", end)):
            if value:
                try:
                    datetime.fromisoformat(value)
                except ValueError:
                    raise ValidationError(f"{name} must be an ISO date", fields={name: "not an ISO date"}) from None
        if (start is None) != (end is None):
            raise ValidationError("give both from and to", fields={"from" if start is None else "to": "required"})
        status = params.get("status")
        if status and status not in rules.TRANSITIONS:
            raise ValidationError("unknown status", fields={"status": f"one of {sorted(rules.TRANSITIONS)}"})
        if params.get("userId"):
            items, last = self.orders.query("byUser", "userId", params["userId"], limit, cursor, start, end)
            if status:
                items = [o for o in items if o["status"] == status]
        elif status:
            items, last = self.orders.query("byStatus", "status", status, limit, cursor, start, end)
        else:
            day = params.get("day") or _now().date().isoformat()
            items, last = self.orders.query("byDay", "day", day, limit, cursor)
        return [view(o) for o in items], last

    # -- transitions -----------------------------------------------------------------------
    def cancel(self, who: Caller, order_id: str, reason: str | None, client: ClientInfo) -> dict[str, Any]:
        order = self._visible(who, order_id)
        if order["userId"] != who.user_id:
            raise NotFound("order not found")
        return view(self._move(order, rules.CANCELLED, Actor.of(who, client), reason))

    def approve(self, who: Caller, order_id: str, client: ClientInfo) -> dict[str, Any]:
        return view(self._move(self._visible(who, order_id), rules.APPROVED, Actor.of(who, client), None))

    def reject(self, who: Caller, order_id: str, reason: str | None, client: ClientInfo) -> dict[str, Any]:
        return view(self._move(self._visible(who, order_id), rules.REJECTED, Actor.of(who, client), reason))

    def mark_paid(self, order_id: str, payment: dict[str, Any], actor: Actor) -> dict[str, Any]:
        """PENDING_PAYMENT -> PAID: the reservation becomes a sale. For the checkout workflow."""
        return view(self._move(self._load(order_id), rules.PAID, actor, None, {"payment": payment}))

    def expire(self, order: dict[str, Any], actor: Actor) -> dict[str, Any] | None:
        """Release an unpaid order's stock once its hold has passed. Exactly once: the transition
        is conditional on the order still holding it, so a racing cancel or sweeper loses cleanly."""
        try:
            return self._move(order, rules.EXPIRED, actor, "reservation expired", expired_before=int(time.time()) + 1)
        except Conflict:
            return None

    def sweep(self) -> dict[str, int]:
        actor = Actor("system", "system", "-", "reservation-sweeper")
        due = self.orders.expired_holds(int(time.time()))
        released = sum(1 for order in due if self.expire(order, actor) is not None)
        return {"due": len(due), "released": released}

    def _move(
        self,
        order: dict[str, Any],
        target: str,
        actor: Actor,
        reason: str | None,
        sets: dict[str, Any] | None = None,
        expired_before: int | None = None,
    ) -> dict[str, Any]:
        current = order["status"]
        if not rules.can_move(current, target):
            raise Conflict(
                f"an order in {current} cannot become {target}", code="invalid_transition", fields={"status": current}
            )
        now = _now().isoformat()
        entry = {
            "status": target,
            "at": now,
            "by": actor.user_id,
            "role": actor.role,
            **({"reason": reason} if reason else {}),
        }
        sets = {**(sets or {}), "correlationId": logs.correlation_id.get()}
        stock_requests: list[Tagged] = []
        lines = order["lines"]
        if current in rules.HOLDS_STOCK:
            if target == rules.PAID:
                stock_requests = [
                    self.inventory.commit_request(x["productId"], x["variantId"], x["vendorId"], int(x["quantity"]))
                    for x in lines
                ]
                sets["reservation"] = {**order["reservation"], "status": "committed"}
            else:
                stock_requests = [
                    self.inventory.release_request(x["productId"], x["variantId"], x["vendorId"], int(x["quantity"]))
                    for x in lines
                ]
                sets["reservation"] = {**order["reservation"], "status": "released"}
                if order.get("promoCode"):
                    stock_requests += self.catalog.promo_release_requests(order["promoCode"], order["userId"])
        elif current in rules.COMMITTED_STOCK and target in (rules.CANCELLED, rules.REJECTED):
            stock_requests = [
                self.inventory.restock_request(x["productId"], x["variantId"], x["vendorId"], int(x["quantity"]))
                for x in lines
            ]
            sets["refund"] = {"status": "REQUIRED", "amount": order["total"], "currency": order["currency"]}
        request = self.orders.transition_request(
            order["orderId"],
            current,
            target,
            entry,
            sets,
            release_hold=current in rules.HOLDS_STOCK,
            expired_before=expired_before,
        )
        try:
            tx.commit(
                [
                    request,
                    *stock_requests,
                    audit.put_request(
                        f"ORDER#{order['orderId']}",
                        f"order_{target.lower()}",
                        actor,
                        {"from": current, **({"reason": reason} if reason else {})},
                    ),
                ],
                f"order:{order['orderId']}:{current}>{target}:{uuid.uuid4().hex}",
            )
        except tx.Cancelled:
            raise Conflict("the order changed meanwhile; reload it", code="invalid_transition") from None
        return {**order, **sets, "status": target, "updatedAt": now, "history": [*order["history"], entry]}


class _Retry(Exception):
    """Contention that a fresh read may resolve (transaction conflict, a vendor filling up)."""
