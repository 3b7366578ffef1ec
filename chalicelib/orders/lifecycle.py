"""The order status machine in storage: each transition is one transaction that moves the order
(only from the state it was read in), moves its stock and promo use, and writes its audit row."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib.audit import repo as audit
from chalicelib.audit.repo import Actor
from chalicelib.catalog.repo import CatalogRepo
from chalicelib.core import logs, tx
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.core.errors import Conflict, Forbidden, NotFound
from chalicelib.core.tx import Tagged
from chalicelib.inventory.repo import InventoryRepo
from chalicelib.orders import rules
from chalicelib.orders.repo import OrdersRepo
from chalicelib.orders.views import load, view, visible
from chalicelib.vendors.repo import VendorsRepo

log = logs.get_logger("freshcart.orders")


class Reviews(Protocol):
    """The payments domain's side of a fraud hold: a manager's decision resumes or ends it."""

    def resolve(self, order_id: str, approve: bool, actor: Actor, reason: str | None) -> None: ...


@dataclass
class OrderLifecycle:
    orders: OrdersRepo
    inventory: InventoryRepo
    catalog: CatalogRepo
    vendors: VendorsRepo
    reviews: Reviews | None = None

    def cancel(self, who: Caller, order_id: str, reason: str | None, client: ClientInfo) -> dict[str, Any]:
        order = visible(self.orders, who, order_id)
        if order["userId"] != who.user_id:
            raise NotFound("order not found")
        return view(self._move(order, rules.CANCELLED, Actor.of(who, client), reason))

    def approve(self, who: Caller, order_id: str, client: ClientInfo) -> dict[str, Any]:
        order = visible(self.orders, who, order_id)
        if order["userId"] == who.user_id:  # a manager's own order (a fraud hold above all) is another's call
            raise Forbidden("you cannot approve your own order", code="own_order", fields={"orderId": "yours"})
        if order["status"] == rules.PENDING_PAYMENT and self.reviews is not None:
            # Held by fraud rules: approving lets the checkout charge it (it becomes PAID then).
            self.reviews.resolve(order_id, approve=True, actor=Actor.of(who, client), reason=None)
            return view(order)
        return view(self._move(order, rules.APPROVED, Actor.of(who, client), None))

    def reject(self, who: Caller, order_id: str, reason: str | None, client: ClientInfo) -> dict[str, Any]:
        order = visible(self.orders, who, order_id)
        if not rules.can_move(order["status"], rules.REJECTED):
            raise Conflict(
                f"an order in {order['status']} cannot become REJECTED",
                code="invalid_transition",
                fields={"status": order["status"]},
            )
        if order["status"] == rules.PENDING_PAYMENT and self.reviews is not None:
            # The held payment's wait ends first: if the move below fails, a retried reject
            # finds the wait already ended and moves the order then (never a wait left open).
            self.reviews.resolve(order_id, approve=False, actor=Actor.of(who, client), reason=reason)
        return view(self._move(order, rules.REJECTED, Actor.of(who, client), reason))

    def get(self, order_id: str) -> dict[str, Any]:
        return load(self.orders, order_id)

    def hold_for_review(self, order: dict[str, Any], seconds: int) -> dict[str, Any]:
        """A payment held for a manager's review keeps its stock for ``seconds`` from now, not
        the 15-minute reservation (the review would otherwise fail by itself). The order as it
        is afterwards (unchanged when it already holds longer, or no longer holds stock)."""
        extended = self.orders.extend_hold(order["orderId"], int(time.time()) + seconds)
        return extended or load(self.orders, order["orderId"])

    def paid_items(self, order: dict[str, Any], payment: dict[str, Any], actor: Actor, now: int) -> list[Tagged]:
        """PENDING_PAYMENT -> PAID while the reservation is still live at ``now``: the
        reservation becomes a sale. Committed by the checkout with its ledger entry."""
        return self.transition(order, rules.PAID, actor, None, {"payment": payment}, live_at=now)[0]

    def refunded_items(self, order: dict[str, Any], refunded: int, actor: Actor, reason: str | None) -> list[Tagged]:
        """The order's refund state once ``refunded`` (in all) is back, with its audit row; its
        fulfilment status is not touched (a partly refunded order still ships or cancels)."""
        refund = rules.refund_after(order, refunded)
        details = {"refund": refund, **({"reason": reason} if reason else {})}
        return [
            self.orders.refund_request(order["orderId"], order.get("refund"), refund),
            audit.put_request(f"ORDER#{order['orderId']}", "order_refunded", actor, details),
        ]

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

    def migrate_refund_axis(self) -> dict[str, int]:
        """Orders stored when refunds were in the status (REFUNDED, PARTIALLY_REFUNDED) get their
        fulfilment status back and the refund on its own axis; old-shape ``refund`` maps too.
        Each order moves only if unchanged since it was read; a re-run finds nothing to do."""
        seen = moved = 0
        for order in self.orders.legacy_refund_orders():
            seen += 1
            split = rules.legacy_split(order)
            if split is None:
                continue
            try:
                stamp = {**split, "migratedAt": datetime.now(UTC).isoformat()}  # its stream event says nothing
                self.orders.ddb.update_item(**self.orders.migrate_request(order, stamp))
                moved += 1
            except self.orders.ddb.exceptions.ConditionalCheckFailedException:
                log.warning("order changed during the migration; run it again", extra={"orderId": order["orderId"]})
        return {"read": seen, "migrated": moved}

    def _stock_moves(self, order: dict[str, Any], target: str, sets: dict[str, Any]) -> list[Tagged]:
        """What a transition does to stock and promo use (and the order fields that record it)."""
        current, lines = order["status"], order["lines"]
        keys = [(x["productId"], x["variantId"], x["vendorId"], int(x["quantity"])) for x in lines]
        if current in rules.HOLDS_STOCK and target == rules.PAID:
            sets["reservation"] = {**order["reservation"], "status": "committed"}
            return [self.inventory.commit_request(*k) for k in keys]
        if current in rules.HOLDS_STOCK:
            sets["reservation"] = {**order["reservation"], "status": "released"}
            moves = [self.inventory.release_request(*k) for k in keys] + self._slot_release(order)
            if order.get("promoCode"):
                moves += self.catalog.promo_release_requests(order["promoCode"], order["userId"])
            return moves
        if current in rules.COMMITTED_STOCK and target in (rules.CANCELLED, rules.REJECTED):
            sets.setdefault("refund", rules.refund_on_cancel(order))  # what is not back yet is owed
            return [self.inventory.restock_request(*k) for k in keys] + self._slot_release(order)
        return []

    def _slot_release(self, order: dict[str, Any]) -> list[Tagged]:
        """The vendors' room in the order's delivery slot, given back (orders placed before slots
        held none)."""
        day, slot = order.get("deliveryDate"), order.get("deliverySlot")
        if not day or not slot:
            return []
        kept_until = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) + 3 * 86400
        return [self.vendors.load_release_request(v, day, slot, kept_until) for v in order.get("vendorIds", [])]

    def _move(
        self,
        order: dict[str, Any],
        target: str,
        actor: Actor,
        reason: str | None,
        sets: dict[str, Any] | None = None,
        expired_before: int | None = None,
    ) -> dict[str, Any]:
        items, moved = self.transition(order, target, actor, reason, sets, expired_before=expired_before)
        current = order["status"]
        try:
            tx.commit(items, f"order:{order['orderId']}:{current}>{target}:{uuid.uuid4().hex}")
        except tx.Cancelled:
            raise Conflict("the order changed meanwhile; reload it", code="invalid_transition") from None
        return moved

    def transition(
        self,
        order: dict[str, Any],
        target: str,
        actor: Actor,
        reason: str | None,
        sets: dict[str, Any] | None = None,
        expired_before: int | None = None,
        live_at: int | None = None,
    ) -> tuple[list[Tagged], dict[str, Any]]:
        """The transaction items of one transition (order, stock, promo use, audit row) and the
        order as it will be; for callers that commit them with their own items (payments)."""
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
            live_at=live_at,
            refund_was=order.get("refund"),
        )
        details = {"from": current, **({"reason": reason} if reason else {})}
        row = audit.put_request(f"ORDER#{order['orderId']}", f"order_{target.lower()}", actor, details)
        moved = {**order, **sets, "status": target, "updatedAt": now, "history": [*order["history"], entry]}
        return [request, *moves, row], moved
