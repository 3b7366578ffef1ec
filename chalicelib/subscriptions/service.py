"""Subscriptions: milk every morning, bread every other day, paneer on Saturdays. A customer keeps
them (create, change, pause for a vacation, skip a date, resume, cancel); the scheduled job turns
each date's due ones into orders through the normal placement and pays them off-session with the
customer's default saved card through the normal checkout.

Exactly one order per subscription and date: the placement's Idempotency-Key and the payment's
are the subscription's and the date's, so a second run of the job (or two at once) answers the
same order and the same payment. Dunning: a date whose order was not paid counts; three in a row
pause the subscription and the customer is told.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from chalicelib.catalog.rules import find_variant
from chalicelib.core import logs
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.deliveries import slots
from chalicelib.subscriptions import models, rules
from chalicelib.subscriptions.repo import SubscriptionsRepo
from chalicelib.subscriptions.views import iso, order_body, view

log = logs.get_logger("freshcart.subscriptions")
SYSTEM_CLIENT = ClientInfo("0.0.0.0", "freshcart-subscriptions", None)  # noqa: S104 - a label, not a bind
PAID = frozenset({"PAID", "APPROVED", "DISPATCHED", "DELIVERED"})
UNPAID_ENDS = frozenset({"EXPIRED", "CANCELLED", "REJECTED"})
CATCH_UP_DAYS = 3  # a run moves on subscriptions left due this many days back


class Catalog(Protocol):
    def get_product(self, product_id: str) -> dict[str, Any] | None: ...


class Users(Protocol):
    def get(self, user_id: str, consistent: bool = False) -> dict[str, Any] | None: ...


class Orders(Protocol):
    def place(
        self, who: Caller, body: Any, key: str, client: ClientInfo, subscription_id: str | None = None
    ) -> tuple[int, dict[str, Any]]: ...
    def status(self, order_id: str) -> str | None: ...


class Payments(Protocol):
    def pay(
        self, who: Caller, order_id: str, method: str, key: str, client: ClientInfo, customer: str | None = None
    ) -> dict[str, Any]: ...


class Cards(Protocol):
    def default(self, user_id: str) -> tuple[str, str] | None: ...


class Serving(Protocol):
    """Does a vendor deliver ``product_id`` to ``pincode`` (the vendors domain's area index)?"""

    def serves(self, pincode: str, product_id: str) -> bool: ...


class Bus(Protocol):
    def publish(self, kind: str, data: dict[str, Any], event_id: str) -> None: ...


def _today() -> date:
    return slots.policy().local(datetime.now(UTC)).date()


@dataclass
class SubscriptionService:
    repo: SubscriptionsRepo
    catalog: Catalog
    users: Users
    orders: Orders
    payments: Payments
    cards: Cards
    bus: Bus
    serving: Serving

    # -- the customer's ------------------------------------------------------------------------
    def create(self, who: Caller, body: models.SubscriptionBody) -> dict[str, Any]:
        product = self.catalog.get_product(body.productId)
        if not product or not product.get("active") or not find_variant(product, body.variantId):
            raise Unprocessable("no such product to subscribe to", fields={"variantId": "unknown or inactive"})
        user = self.users.get(who.user_id) or {}
        address = next((a for a in user.get("addresses", []) if a.get("addressId") == body.addressId), None)
        if address is None:
            raise NotFound("address not found", fields={"addressId": "not one of your addresses"})
        if not self.serving.serves(str(address.get("pincode", "")), body.productId):
            raise Conflict(
                "no vendor delivers this product to that address",
                code="not_serviceable",
                fields={"addressId": f"pincode {address.get('pincode')} is not served for it"},
            )
        tomorrow = _today() + timedelta(days=1)
        if body.startDate < tomorrow:
            raise Unprocessable("a subscription starts tomorrow at the earliest", fields={"startDate": "in the past"})
        now = datetime.now(UTC).isoformat()
        sub = {
            "subscriptionId": uuid.uuid4().hex,
            "userId": who.user_id,
            "productId": body.productId,
            "variantId": body.variantId,
            "quantity": body.quantity,
            "frequency": body.frequency,
            "weekdays": sorted(set(body.weekdays or [])) or None,
            "deliverySlot": body.deliverySlot,
            "startDate": body.startDate.isoformat(),
            "endDate": body.endDate.isoformat() if body.endDate else None,
            "addressId": body.addressId,
            "status": rules.ACTIVE,
            "pauses": [],
            "skips": [],
            "failedDates": 0,
            "version": 0,
            "createdAt": now,
            "updatedAt": now,
        }
        sub["nextDate"] = iso(rules.first_date(sub, tomorrow))
        self.repo.create({k: v for k, v in sub.items() if v is not None})
        return view(sub)

    def list(self, who: Caller, limit: int, cursor: dict[str, Any] | None) -> tuple[list[dict[str, Any]], Any]:
        items, nxt = self.repo.of_user(who.user_id, limit, cursor)
        return [view(s) for s in items], nxt

    def get(self, who: Caller, subscription_id: str) -> dict[str, Any]:
        return view(self._mine(who, subscription_id))

    def change(self, who: Caller, subscription_id: str, patch: models.SubscriptionPatch) -> dict[str, Any]:
        """Quantity or slot: from ``fromDate`` (kept as a dated change the job applies), or now."""
        sets = patch.model_dump(exclude_unset=True, exclude={"fromDate"})
        if not sets:
            raise Unprocessable("nothing to change from that date", fields={"quantity": "or deliverySlot: give one"})
        if patch.fromDate is None:
            return self._edit(who, subscription_id, lambda s: {**s, **sets})
        if patch.fromDate <= _today():
            raise Unprocessable("a change starts tomorrow at the earliest", fields={"fromDate": "in the past"})
        dated = {"from": patch.fromDate.isoformat(), **sets}
        return self._edit(who, subscription_id, lambda s: {**s, "changes": [*s.get("changes", []), dated]})

    def pause(self, who: Caller, subscription_id: str, start: date, end: date) -> dict[str, Any]:
        if end < _today():
            raise Unprocessable("the pause is over already", fields={"to": "in the past"})

        def paused(s: dict[str, Any]) -> dict[str, Any]:
            return {**s, "pauses": [*s.get("pauses", []), {"from": start.isoformat(), "to": end.isoformat()}]}

        return self._edit(who, subscription_id, paused)

    def skip(self, who: Caller, subscription_id: str, day: date) -> dict[str, Any]:
        def skipped(s: dict[str, Any]) -> dict[str, Any]:
            if not rules.scheduled(s, day):
                raise Unprocessable(
                    "the subscription does not deliver that date", fields={"date": "not a delivery date"}
                )
            return {**s, "skips": sorted({*s.get("skips", []), day.isoformat()})}

        return self._edit(who, subscription_id, skipped)

    def resume(self, who: Caller, subscription_id: str) -> dict[str, Any]:
        """Back to delivering from the next date: pauses not over yet are called off (skipped
        dates stay skipped), a subscription paused by failed payments is active again."""
        today = _today()

        def resumed(s: dict[str, Any]) -> dict[str, Any]:
            pauses = [p for p in s.get("pauses", []) if date.fromisoformat(p["to"]) < today]  # the past ones
            return {**s, "status": rules.ACTIVE, "failedDates": 0, "pauses": pauses}

        return self._edit(who, subscription_id, resumed, allow_paused=True)

    def cancel(self, who: Caller, subscription_id: str) -> dict[str, Any]:
        return self._edit(who, subscription_id, lambda s: {**s, "status": rules.CANCELLED}, allow_paused=True)

    def _mine(self, who: Caller, subscription_id: str) -> dict[str, Any]:
        sub = self.repo.get(subscription_id)
        if sub is None or (sub["userId"] != who.user_id and who.role != "admin"):
            raise NotFound("subscription not found")
        return sub

    def _edit(self, who: Caller, subscription_id: str, change: Any, allow_paused: bool = False) -> dict[str, Any]:
        sub = self._mine(who, subscription_id)
        if sub["status"] == rules.CANCELLED or (sub["status"] == rules.PAUSED and not allow_paused):
            raise Conflict(
                f"a {sub['status']} subscription cannot be changed",
                code="invalid_transition",
                fields={"status": sub["status"]},
            )
        moved = change(sub)
        moved["updatedAt"] = datetime.now(UTC).isoformat()
        moved["nextDate"] = iso(rules.first_date(moved, _open_from(moved)))
        self.repo.save({k: v for k, v in moved.items() if v is not None and k != "version"}, int(sub.get("version", 0)))
        return view(moved)

    # -- the job ----------------------------------------------------------------------------------
    @staticmethod
    def tomorrow() -> str:
        """The date the daily run places orders for: tomorrow, in the shop's time."""
        return (_today() + timedelta(days=1)).isoformat()

    def place_due(self, day: str) -> dict[str, int]:
        """Every subscription due on ``day``: its order placed and paid (or skipped, told why).
        Ones left due on the days before (a run that failed, a day the job did not run) move on
        to their next date: a delivery date past is not ordered any more."""
        counts = self._each(self.repo.due, self._one, day)
        for back in range(1, CATCH_UP_DAYS + 1):
            missed = (date.fromisoformat(day) - timedelta(days=back)).isoformat()
            for outcome, n in self._each(self.repo.due, self._skip_missed, missed).items():
                counts[outcome] = counts.get(outcome, 0) + n
        return counts

    def _skip_missed(self, sid: str, day: str) -> str:
        sub = self.repo.get(sid)
        if sub is None or sub.get("nextDate") != day:
            return "not due"
        self.repo.record_run(sid, day, {"outcome": "MISSED"})
        self._advance(sub, day, {})
        return "missed"

    @staticmethod
    def _each(pages: Any, apply: Any, day: str) -> dict[str, int]:
        """``apply(id, day)`` to every id of every page, counting outcomes; one that raises is an
        "error" the next run tries again (the keys make that safe)."""
        counts: dict[str, int] = {}
        cursor = None
        while True:
            ids, cursor = pages(day, 100, cursor)
            for sid in ids:
                try:
                    outcome = apply(sid, day)
                except Exception:
                    log.exception("subscription run failed", extra={"subscriptionId": sid, "day": day})
                    outcome = "error"
                counts[outcome] = counts.get(outcome, 0) + 1
            if not cursor:
                return counts

    def _one(self, sid: str, day: str) -> str:
        sub = self.repo.get(sid)
        if sub is None or sub.get("nextDate") != day or sub["status"] != rules.ACTIVE:
            return "not due"
        failed = self._failed_dates(sub)
        if failed >= rules.MAX_FAILED_DATES:
            self._advance(sub, day, {"status": rules.PAUSED, "failedDates": failed})
            self._tell("SubscriptionPaused", sub, day, f"{failed} deliveries in a row could not be paid")
            return "paused"
        placed = self._place_and_pay(sub, day, f"sub-{sid}-{day}")
        if placed is None:
            self._advance(sub, day, {"failedDates": failed})
            return "skipped"
        order, outcome = placed
        self.repo.record_run(sid, day, {"outcome": outcome.upper().replace(" ", "_"), "orderId": order["orderId"]})
        last = {"lastOrder": {"date": day, "orderId": order["orderId"]}}
        retry = {"retryDate": day} if outcome == "placed" else {}  # tried once more later today if unpaid
        self._advance(sub, day, {"failedDates": failed, **last, **retry})
        self._tell("SubscriptionOrderCreated", sub, day, None, order["orderId"])
        return outcome

    def _place_and_pay(self, sub: dict[str, Any], day: str, key: str) -> tuple[dict[str, Any], str] | None:
        """The date's order placed and its payment started (None: skipped, the customer told)."""
        sid = sub["subscriptionId"]
        who = Caller(sub["userId"], "customer", f"subscription-{sid}")
        try:
            _, order = self.orders.place(who, order_body(sub, day), key, SYSTEM_CLIENT, subscription_id=sid)
        except (Conflict, Unprocessable, NotFound) as exc:  # out of stock, the slot full, the product gone: skipped
            self.repo.record_run(sid, day, {"outcome": "SKIPPED", "reason": exc.message})
            self._tell("SubscriptionSkipped", sub, day, exc.message)
            return None
        card = self.cards.default(sub["userId"])
        if card is None:
            why = "no saved card: add one with POST /users/me/payment-methods"
            self._tell("SubscriptionPaymentFailed", sub, day, why)
            return order, "no card"
        customer, method = card
        try:
            self.payments.pay(who, order["orderId"], method, key, SYSTEM_CLIENT, customer=customer)
        except Conflict as exc:  # paid already (a second run), or a payment in flight: the first answers
            log.info("subscription order already paying", extra={"orderId": order["orderId"], "why": exc.message})
        return order, "placed"

    def retry_due(self, day: str) -> dict[str, int]:
        """Later the same day: each order of ``day`` still unpaid (declined, or its bank asked
        for the customer) is tried once more: paid again while it is held, placed again once
        its hold ran out. Read from the sparse byRetryDate index alone; first, any subscription
        the day's run left due (it failed after or before placing: the keys make it safe)."""
        just_placed: set[str] = set()

        def straggler(sid: str, on: str) -> str:
            just_placed.add(sid)
            return self._one(sid, on)

        def retry(sid: str, on: str) -> str:
            return "just placed" if sid in just_placed else self._retry(sid, on)  # its payment has just started

        counts = self._each(self.repo.due, straggler, day)
        for outcome, n in self._each(self.repo.to_retry, retry, day).items():
            counts[outcome] = counts.get(outcome, 0) + n
        return counts

    def _retry(self, sid: str, day: str) -> str:
        sub = self.repo.get(sid)
        if sub is None or sub.get("retryDate") != day:
            return "not due"
        last = sub.get("lastOrder") or {}
        status = self.orders.status(str(last.get("orderId"))) if last.get("orderId") else None
        outcome = "paid already"
        order_id = last.get("orderId")
        if status not in PAID and sub["status"] == rules.ACTIVE:
            key = f"sub-{sid}-{day}-retry"
            if status == "PENDING_PAYMENT":  # still held: the same order, paid again
                card = self.cards.default(sub["userId"])
                if card:
                    who = Caller(sub["userId"], "customer", f"subscription-{sid}")
                    with contextlib.suppress(Conflict):  # a payment in flight, or paid meanwhile
                        self.payments.pay(who, str(order_id), card[1], key, SYSTEM_CLIENT, customer=card[0])
                outcome = "retried" if card else "no card"
            else:  # its hold ran out: the date's order placed again (stock and slot held afresh)
                placed = self._place_and_pay(sub, day, key)
                outcome = "skipped" if placed is None else "retried"
                order_id = placed[0]["orderId"] if placed else order_id
            self.repo.record_run(
                sid, day, {"outcome": f"RETRY_{outcome.upper().replace(' ', '_')}", "orderId": order_id}
            )
        moved = {**sub, "lastOrder": {"date": day, "orderId": order_id}, "updatedAt": datetime.now(UTC).isoformat()}
        moved.pop("retryDate", None)  # once
        try:
            self.repo.save(
                {k: v for k, v in moved.items() if v is not None and k != "version"}, int(sub.get("version", 0))
            )
        except Conflict:
            log.info("subscription retried by another run", extra={"subscriptionId": sid})
        return outcome

    def _failed_dates(self, sub: dict[str, Any]) -> int:
        """Dates in a row whose order was not paid, counting the last one placed: paid resets
        the count, ended unpaid (its hold ran out, cancelled) adds one, still being paid for
        (a bank's answer, 3-D Secure pending) leaves it as it is."""
        last = sub.get("lastOrder") or {}
        counted = int(sub.get("failedDates", 0))
        if not last.get("orderId"):
            return counted
        status = self.orders.status(str(last["orderId"]))
        if status in PAID:
            return 0
        return counted + 1 if status in UNPAID_ENDS else counted

    def _advance(self, sub: dict[str, Any], day: str, sets: dict[str, Any]) -> None:
        moved = {**sub, **sets, "updatedAt": datetime.now(UTC).isoformat()}
        moved["nextDate"] = iso(rules.next_date(moved, date.fromisoformat(day)))
        try:
            self.repo.save(
                {k: v for k, v in moved.items() if v is not None and k != "version"}, int(sub.get("version", 0))
            )
        except Conflict:  # another run advanced it (its keys made the same order): nothing to add
            log.info("subscription advanced by another run", extra={"subscriptionId": sub["subscriptionId"]})

    def _tell(self, kind: str, sub: dict[str, Any], day: str, why: str | None, order_id: str | None = None) -> None:
        data = {
            "subscriptionId": sub["subscriptionId"],
            "userId": sub["userId"],
            "deliveryDate": day,
            "deliverySlot": sub["deliverySlot"],
            **({"why": why} if why else {}),
            **({"orderId": order_id} if order_id else {}),
        }
        self.bus.publish(kind, data, f"{kind}-{sub['subscriptionId']}-{day}")  # overlapping runs tell once


def _open_from(sub: dict[str, Any]) -> date:
    """The first date a change can still reach: tomorrow, or the day after the last date the job
    placed an order for (that order stands; the next run must find the subscription due)."""
    tomorrow = _today() + timedelta(days=1)
    placed = (sub.get("lastOrder") or {}).get("date")
    return max(tomorrow, date.fromisoformat(placed) + timedelta(days=1)) if placed else tomorrow
