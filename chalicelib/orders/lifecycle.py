"""The order status machine in storage: each transition is one transaction that moves the order
(only from the state it was read in), moves its stock and promo use, and writes its audit row."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.audit import repo as audit
from chalicelib.audit.repo import Actor
from chalicelib.catalog.repo import CatalogRepo
from chalicelib.core import logs, tx
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.tx import Tagged
from chalicelib.inventory.repo import InventoryRepo
from chalicelib.orders import rules
from chalicelib.orders.repo import OrdersRepo
from chalicelib.orders.views import load, view, visible


@dataclass
class OrderLifecycle:
    orders: OrdersRepo
    inventory: InventoryRepo
    catalog: CatalogRepo

    def cancel(self, who: Caller, order_id: str, reason: str | None, client: ClientInfo) -> dict[str, Any]:
        order = visible(self.orders, who, order_id)
        if order["userId"] != who.user_id:
            raise NotFound("order not found")
        return view(self._move(order, rules.CANCELLED, Actor.of(who, client), reason))

    def approve(self, who: Caller, order_id: str, client: ClientInfo) -> dict[str, Any]:
        return view(self._move(visible(self.orders, who, order_id), rules.APPROVED, Actor.of(who, client), None))

    def reject(self, who: Caller, order_id: str, reason: str | None, client: ClientInfo) -> dict[str, Any]:
        return view(self._move(visible(self.orders, who, order_id), rules.REJECTED, Actor.of(who, client), reason))

    def mark_paid(self, order_id: str, payment: dict[str, Any], actor: Actor) -> dict[str, Any]:
        """PENDING_PAYMENT -> PAID: the reservation becomes a sale. For the checkout workflow."""
        return view(self._move(load(self.orders, order_id), rules.PAID, actor, None, {"payment": payment}))

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

    def _stock_moves(self, order: dict[str, Any], target: str, sets: dict[str, Any]) -> list[Tagged]:
        """What a transition does to stock and promo use (and the order fields that record it)."""
        current, lines = order["status"], order["lines"]
        keys = [(x["productId"], x["variantId"], x["vendorId"], int(x["quantity"])) for x in lines]
        if current in rules.HOLDS_STOCK and target == rules.PAID:
            sets["reservation"] = {**order["reservation"], "status": "committed"}
            return [self.inventory.commit_request(*k) for k in keys]
        if current in rules.HOLDS_STOCK:
            sets["reservation"] = {**order["reservation"], "status": "released"}
            moves = [self.inventory.release_request(*k) for k in keys]
            if order.get("promoCode"):
                moves += self.catalog.promo_release_requests(order["promoCode"], order["userId"])
            return moves
        if current in rules.COMMITTED_STOCK and target in (rules.CANCELLED, rules.REJECTED):
            sets["refund"] = {"status": "REQUIRED", "amount": order["total"], "currency": order["currency"]}
            return [self.inventory.restock_request(*k) for k in keys]
        return []

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
        now = datetime.now(UTC).isoformat()
        entry = {
            "status": target,
            "at": now,
            "by": actor.user_id,
            "role": actor.role,
            **({"reason": reason} if reason else {}),
        }
        sets = {**(sets or {}), "correlationId": logs.correlation_id.get()}
        moves = self._stock_moves(order, target, sets)
        request = self.orders.transition_request(
            order["orderId"],
            current,
            target,
            entry,
            sets,
            release_hold=current in rules.HOLDS_STOCK,
            expired_before=expired_before,
        )
        details = {"from": current, **({"reason": reason} if reason else {})}
        row = audit.put_request(f"ORDER#{order['orderId']}", f"order_{target.lower()}", actor, details)
        try:
            tx.commit([request, *moves, row], f"order:{order['orderId']}:{current}>{target}:{uuid.uuid4().hex}")
        except tx.Cancelled:
            raise Conflict("the order changed meanwhile; reload it", code="invalid_transition") from None
        return {**order, **sets, "status": target, "updatedAt": now, "history": [*order["history"], entry]}
