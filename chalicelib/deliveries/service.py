"""Deliveries: scheduled once per approved order and vendor, assigned to a driver, moved forward
by that driver with a photo as proof, rescheduled or refunded by a manager when they fail. The
order's fulfilment follows in the same transaction as the delivery's move: its first delivery
on the road makes it DISPATCHED, its last one delivered makes it DELIVERED."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib.audit.repo import Actor
from chalicelib.core import logs, tx, uow
from chalicelib.core.context import Caller
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.tx import Tagged
from chalicelib.deliveries import rules, slots
from chalicelib.deliveries.repo import DeliveriesRepo

log = logs.get_logger("freshcart.deliveries")
STAFF = ("manager", "admin")
EVENTS = {
    rules.IN_TRANSIT: "DeliveryInTransit",
    rules.DELIVERED: "DeliveryCompleted",
    rules.FAILED: "DeliveryFailed",
}


class Orders(Protocol):
    """What deliveries need of the orders domain (chalicelib/orders/lifecycle.py)."""

    def get(self, order_id: str) -> dict[str, Any]: ...
    def transition(
        self, order: dict[str, Any], target: str, actor: Actor, reason: str | None
    ) -> tuple[list[Tagged], dict[str, Any]]: ...


class Capacity(Protocol):
    """A vendor's room in a date's slot (chalicelib/vendors/repo.py)."""

    def hold(self, vendor_id: str, day: str, slot: str) -> Tagged: ...


class Drivers(Protocol):
    def is_driver(self, user_id: str) -> bool: ...


class Proofs(Protocol):
    """Where a driver's photo goes (S3): an upload form, and what was uploaded."""

    def upload_form(self, delivery_id: str, content_type: str) -> dict[str, Any]: ...
    def uploaded(self, key: str) -> tuple[int, str] | None: ...


class Bus(Protocol):
    def publish(self, kind: str, data: dict[str, Any], event_id: str) -> None: ...


class Refunds(Protocol):
    def refund(self, who: Actor, order_id: str, amount: int | None, reason: str, key: str) -> dict[str, Any]: ...


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class DeliveryService:
    repo: DeliveriesRepo
    orders: Orders
    capacity: Capacity
    drivers: Drivers
    proofs: Proofs
    bus: Bus
    refunds: Refunds
    clock: Any = time.time

    # -- scheduling (the OrderApproved consumer) ----------------------------------------------
    def schedule(self, order_id: str) -> str:
        """One delivery per vendor of an approved order, written once: a replayed event finds
        them there. The events are published on every try (same ids), so a publish that failed
        after the write is made good by the retry."""
        order = self.orders.get(order_id)
        if order["status"] not in ("APPROVED", "DISPATCHED", "DELIVERED"):
            return f"order is {order['status']}: nothing to schedule"
        deliveries = [self._new(order, v) for v in order.get("vendorIds", [])]
        items = self.repo.new_requests(order_id, deliveries)
        try:
            tx.commit(items, uow.attempt_token(f"deliveries:{order_id}"))
            outcome = "scheduled"
        except tx.Cancelled as exc:
            if not exc.hit(items[0]):
                raise  # a conflict: the message comes back
            _, deliveries = self.repo.of_order(order_id)  # scheduled by an earlier try
            outcome = "already scheduled"
        for d in deliveries:
            self._publish("DeliveryScheduled", d, f"scheduled-{d['deliveryId']}")
        return outcome

    def cancel_for_order(self, order_id: str) -> str:
        """The order was cancelled or rejected before it went out: its deliveries are called off
        (their drivers told). One already on the road stays (the order could not be cancelled then)."""
        cancelled = 0
        for d in self.repo.of_order(order_id)[1]:
            if d["status"] not in (rules.SCHEDULED, rules.FAILED):
                continue
            now = _now()
            sets = {
                "status": rules.CANCELLED,
                "updatedAt": now,
                "history": [*d.get("history", []), {"status": rules.CANCELLED, "at": now}],
            }
            try:
                tx.commit(
                    [self.repo.update_request(d, d["status"], sets)], uow.attempt_token(f"cancel:{d['deliveryId']}")
                )
            except tx.Cancelled:
                raise uow.Contended from None  # it moved meanwhile: the message comes back and reads again
            if d.get("driverId"):
                self._publish("DeliveryCancelled", {**d, **sets}, f"cancelled-{d['deliveryId']}")
            cancelled += 1
        return f"cancelled {cancelled}"

    def _new(self, order: dict[str, Any], vendor_id: str) -> dict[str, Any]:
        day, slot = order.get("deliveryDate"), order.get("deliverySlot")
        if not day or not slot:  # placed before orders carried a slot: the earliest open one
            first = slots.policy().upcoming(datetime.now(UTC), 1)[0]
            day, slot = first[0].isoformat(), first[1]
        delivery_id = rules.delivery_id(order["orderId"], vendor_id)
        now = _now()
        return {
            "deliveryId": delivery_id,
            "orderId": order["orderId"],
            "userId": order["userId"],
            "vendorId": vendor_id,
            "deliveryDate": day,
            "deliverySlot": slot,
            "status": rules.SCHEDULED,
            "address": order["address"],
            "lines": [x for x in order["lines"] if x["vendorId"] == vendor_id],
            "amount": rules.share(order, vendor_id),
            "currency": order["currency"],
            "specialInstructions": order.get("specialInstructions"),
            "runKey": rules.run_key(slot, str(order["address"].get("pincode", "")), delivery_id),
            "history": [{"status": rules.SCHEDULED, "at": now}],
            "createdAt": now,
            "updatedAt": now,
        }

    # -- reading -----------------------------------------------------------------------------------
    def get(self, who: Caller, delivery_id: str) -> dict[str, Any]:
        return rules.view(self._visible(who, delivery_id))

    def of_order(self, order_id: str) -> list[dict[str, Any]]:
        """An order's deliveries (the caller checked the order is theirs to see)."""
        return [rules.view(d) for d in self.repo.of_order(order_id)[1]]

    def vendor_day(
        self, who: Caller, vendor_id: str, day: str, slot: str | None, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        if who.role != "admin" and not (who.role == "vendor" and who.vendor_id == vendor_id):
            raise NotFound("vendor not found")
        prefix = rules.SLOT_ORDER[slot] + "#" if slot else None
        items, nxt = self.repo.vendor_day(vendor_id, day, prefix, limit, cursor)
        return [rules.view(d) for d in items], nxt

    def driver_day(
        self, who: Caller, day: str, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        items, nxt = self.repo.driver_day(who.user_id, day, limit, cursor)
        return [rules.view(d) for d in items], nxt

    def _visible(self, who: Caller, delivery_id: str) -> dict[str, Any]:
        """Staff, the vendor's staff, its driver and its customer see a delivery; others a 404."""
        d = self.repo.get(delivery_id)
        if d and (
            who.role in STAFF
            or (who.role == "vendor" and who.vendor_id == d["vendorId"])
            or d.get("driverId") == who.user_id
            or d["userId"] == who.user_id
        ):
            return d
        raise NotFound("delivery not found")

    # -- the vendor's staff: a driver for it ---------------------------------------------------------
    def assign(self, who: Caller, delivery_id: str, driver_id: str) -> dict[str, Any]:
        if not self.drivers.is_driver(driver_id):
            raise Unprocessable("not an active driver", fields={"driverId": "not an active user with role driver"})

        def attempt() -> dict[str, Any]:
            d = self._visible(who, delivery_id)
            if who.role not in ("admin", "vendor") or (who.role == "vendor" and who.vendor_id != d["vendorId"]):
                raise NotFound("delivery not found")
            if d.get("driverId") == driver_id:
                return d  # a replay
            if d["status"] != rules.SCHEDULED:
                raise Conflict(
                    f"a {d['status']} delivery keeps its driver",
                    code="invalid_transition",
                    fields={"status": d["status"]},
                )
            sets = {"driverId": driver_id, "driverDay": f"{driver_id}#{d['deliveryDate']}", "updatedAt": _now()}
            self._commit([self.repo.update_request(d, rules.SCHEDULED, sets)], f"assign:{delivery_id}")
            return {**d, **sets}

        moved = uow.retrying(attempt, message="the delivery changed meanwhile; retry")
        self._publish("DeliveryAssigned", moved, f"assigned-{delivery_id}-{driver_id}")
        return rules.view(moved)

    # -- the driver ---------------------------------------------------------------------------------
    def proof_form(self, who: Caller, delivery_id: str, content_type: str) -> dict[str, Any]:
        d = self._driven(who, delivery_id)
        if d["status"] in rules.DONE:
            raise Conflict(f"a {d['status']} delivery takes no more proof", code="invalid_transition")
        return self.proofs.upload_form(delivery_id, content_type)

    def move(
        self, who: Caller, delivery_id: str, target: str, proof_key: str | None, reason: str | None
    ) -> dict[str, Any]:
        """The assigned driver moves the delivery forward; the order follows in the same
        transaction. A replay of the move it already made changes nothing."""

        def attempt() -> dict[str, Any]:
            d = self._driven(who, delivery_id)
            problem = rules.move_problem(d, target, who.user_id)
            if problem:
                raise Conflict(problem, code="invalid_transition", fields={"status": d["status"]})
            if d["status"] == target:
                return rules.view(d)
            sets: dict[str, Any] = {"status": target, "updatedAt": _now()}
            if target == rules.DELIVERED:
                sets |= {"actualDeliveryTime": sets["updatedAt"], "proofKey": self._proof(delivery_id, proof_key)}
            if target == rules.FAILED:
                if not reason:
                    raise Unprocessable("say why it failed", fields={"reason": "required when FAILED"})
                sets["failureReason"] = reason
            sets["history"] = [*d.get("history", []), {"status": target, "at": sets["updatedAt"], "by": who.user_id}]
            items = [self.repo.update_request(d, d["status"], sets), *self._order_follows(d, target, who)]
            self._commit(items, f"move:{delivery_id}:{target}")
            moved = {**d, **sets}
            self._publish(EVENTS[target], moved, f"{target.lower()}-{delivery_id}")
            return rules.view(moved)

        return uow.retrying(attempt, message="the delivery or its order changed meanwhile; retry")

    def _driven(self, who: Caller, delivery_id: str) -> dict[str, Any]:
        d = self.repo.get(delivery_id)
        if d is None or who.role != "driver":
            raise NotFound("delivery not found")
        if d.get("driverId") != who.user_id:
            raise NotFound("delivery not found")  # another driver's: not even there
        return d

    def _proof(self, delivery_id: str, key: str | None) -> str:
        if not key or not key.startswith(f"proofs/{delivery_id}/"):
            raise Unprocessable("a delivery needs its photo", fields={"proofKey": "upload one with POST .../proof"})
        found = self.proofs.uploaded(key)
        if found is None:
            raise Unprocessable("no photo was uploaded under this key", fields={"proofKey": "not uploaded"})
        size, content_type = found
        if content_type not in rules.PROOF_TYPES or not 0 < size <= rules.PROOF_MAX_BYTES:
            raise Unprocessable(
                "the photo must be a JPEG or PNG of at most 5 MB",
                fields={"proofKey": f"{content_type}, {size} bytes"},
            )
        return key

    def _order_follows(self, d: dict[str, Any], target: str, who: Caller) -> list[Tagged]:
        """The order's move with the delivery's: DISPATCHED with its first delivery on the road,
        DELIVERED with its last one delivered (the summary's count, from what was read)."""
        actor = Actor(who.user_id, who.role, "-", "deliveries")
        order = self.orders.get(d["orderId"])
        if target == rules.IN_TRANSIT and order["status"] == "APPROVED":
            return self.orders.transition(order, "DISPATCHED", actor, None)[0]
        if target != rules.DELIVERED:
            return []
        summary, _ = self.repo.of_order(d["orderId"])
        pending = int((summary or {}).get("pending", 1))
        items = [self.repo.pending_request(d["orderId"], pending)]
        if pending == 1 and order["status"] == "DISPATCHED":  # (a delivery reaches DELIVERED only via IN_TRANSIT)
            items += self.orders.transition(order, "DELIVERED", actor, None)[0]
        return items

    # -- a manager, when a delivery failed ---------------------------------------------------------
    def reschedule(self, who: Caller, delivery_id: str, day: str, slot: str) -> dict[str, Any]:
        d = self._failed(who, delivery_id)
        problem = slots.policy().problem(datetime.fromisoformat(day).date(), slot, datetime.now(UTC))
        if problem:
            raise Unprocessable("this delivery slot cannot be ordered", fields={problem[0]: problem[1]})
        now = _now()
        sets = {
            "status": rules.SCHEDULED,
            "deliveryDate": day,
            "deliverySlot": slot,
            "vendorDay": f"{d['vendorId']}#{day}",
            "runKey": rules.run_key(slot, str(d["address"].get("pincode", "")), delivery_id),
            "updatedAt": now,
            "history": [*d.get("history", []), {"status": rules.SCHEDULED, "at": now, "by": who.user_id}],
        }
        if d.get("driverId"):
            sets["driverDay"] = f"{d['driverId']}#{day}"
        items = [self.repo.update_request(d, rules.FAILED, sets, remove=("failureReason",))]
        items.append(self.capacity.hold(d["vendorId"], day, slot))
        try:
            tx.commit(items, f"reschedule:{delivery_id}:{uow.attempt_token(day)}")
        except tx.Cancelled as exc:
            if exc.hit(items[-1]):
                raise Conflict(
                    f"the {slot} slot of {day} is full", code="slot_full", fields={"deliverySlot": "full"}
                ) from None
            raise Conflict("the delivery changed meanwhile; reload it", code="invalid_transition") from None
        moved = {k: v for k, v in {**d, **sets}.items() if k != "failureReason"}
        self._publish("DeliveryScheduled", moved, f"scheduled-{delivery_id}-{day}-{slot}")
        return rules.view(moved)

    def refund(self, who: Caller, delivery_id: str, actor: Actor) -> dict[str, Any]:
        """The customer gets back what the failed delivery's lines cost them."""
        d = self._failed(who, delivery_id)
        refund = self.refunds.refund(
            actor, d["orderId"], int(d["amount"]), "delivery failed", f"delivery-{delivery_id}"
        )
        if refund["status"] == "FAILED":
            raise Conflict("Stripe refused the refund; try again later", code="refund_failed")
        now = _now()
        sets = {"status": rules.REFUNDED, "refundId": refund["refundId"], "updatedAt": now}
        sets["history"] = [*d.get("history", []), {"status": rules.REFUNDED, "at": now, "by": who.user_id}]

        def attempt() -> None:
            items = [self.repo.update_request(d, rules.FAILED, sets), *self._order_settles(d, who)]
            self._commit(items, f"refund:{delivery_id}")

        uow.retrying(attempt, message="the delivery or its order changed meanwhile; retry")
        return rules.view({**d, **sets})

    def _order_settles(self, d: dict[str, Any], who: Caller) -> list[Tagged]:
        """A refunded delivery is over too: the order's count goes down with it, and with its
        last one the order ends: DELIVERED when something went out (its refund says the rest),
        CANCELLED when nothing did (its stock back, what is not refunded yet refunded)."""
        summary, _ = self.repo.of_order(d["orderId"])
        pending = int((summary or {}).get("pending", 1))
        items = [self.repo.pending_request(d["orderId"], pending)]
        if pending == 1:
            actor = Actor(who.user_id, who.role, "-", "deliveries")
            order = self.orders.get(d["orderId"])
            target = {"DISPATCHED": "DELIVERED", "APPROVED": "CANCELLED"}.get(order["status"])
            if target:
                items += self.orders.transition(order, target, actor, "its last delivery was refunded")[0]
        return items

    def _failed(self, who: Caller, delivery_id: str) -> dict[str, Any]:
        if who.role not in STAFF:
            raise NotFound("delivery not found")
        d = self.repo.get(delivery_id)
        if d is None:
            raise NotFound("delivery not found")
        if d["status"] != rules.FAILED:
            raise Conflict(
                f"only a FAILED delivery is rescheduled or refunded, not a {d['status']} one",
                code="invalid_transition",
                fields={"status": d["status"]},
            )
        return d

    # -- plumbing -------------------------------------------------------------------------------------
    @staticmethod
    def _commit(items: list[Tagged], operation: str) -> None:
        try:
            tx.commit(items, uow.attempt_token(operation))
        except tx.Cancelled as exc:
            if exc.conflict or exc.failed:
                raise uow.Contended from None
            raise

    def _publish(self, kind: str, d: dict[str, Any], event_id: str) -> None:
        data = {
            "deliveryId": d["deliveryId"],
            "orderId": d["orderId"],
            "userId": d["userId"],
            "vendorId": d["vendorId"],
            "driverId": d.get("driverId"),
            "deliveryDate": d["deliveryDate"],
            "deliverySlot": d["deliverySlot"],
            "status": d["status"],
            "failureReason": d.get("failureReason"),
        }
        self.bus.publish(kind, {k: v for k, v in data.items() if v is not None}, event_id)
