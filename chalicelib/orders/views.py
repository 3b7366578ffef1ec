"""Reading orders: who may see which order, and how much of it; listings by filter."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.audit.repo import Actor
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.core.errors import Forbidden, NotFound, Unprocessable
from chalicelib.orders import rules
from chalicelib.orders.repo import OrdersRepo

if TYPE_CHECKING:
    from chalicelib.orders.lifecycle import OrderLifecycle

INTERNAL_FIELDS = ("holdPk", "holdUntil", "createdKey", "day", "correlationId")


def view(order: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in order.items() if k not in INTERNAL_FIELDS}


def vendor_view(order: dict[str, Any], vendor_id: str) -> dict[str, Any]:
    """A vendor sees its own lines and where to deliver them, nothing else of the order."""
    keep = ("orderId", "status", "createdAt", "updatedAt", "address", "currency")
    return {
        **{k: order[k] for k in keep if k in order},
        "lines": [line for line in order["lines"] if line["vendorId"] == vendor_id],
    }


def load(orders: OrdersRepo, order_id: str) -> dict[str, Any]:
    order = orders.get(order_id)
    if not order:
        raise NotFound("order not found")
    return order


def visible(orders: OrdersRepo, who: Caller, order_id: str) -> dict[str, Any]:
    """Owner, admin, manager, or a vendor with lines in it; anyone else gets a 404."""
    order = orders.get(order_id)
    if order and (
        order["userId"] == who.user_id
        or who.role in ("admin", "manager")
        or (who.role == "vendor" and who.vendor_id and who.vendor_id in order.get("vendorIds", []))
    ):
        return order
    raise NotFound("order not found")


def stock_use(orders: OrdersRepo) -> dict[tuple[str, str, str], dict[str, int]]:
    """Units each stock row (product, variant, vendor) should hold as reserved and as sold,
    recomputed from the orders (byStatus, every page; never a Scan)."""
    out: dict[tuple[str, str, str], dict[str, int]] = {}
    for status in rules.STOCK_USE_STATUSES:
        for order in orders.with_status(status):
            use = rules.stock_use(order)
            if use is None:
                continue
            for line in order.get("lines", []):
                key = (line["productId"], line["variantId"], line["vendorId"])
                counts = out.setdefault(key, {"reserved": 0, "sold": 0})
                counts[use] += int(line["quantity"])
    return out


@dataclass
class OrderViews:
    orders: OrdersRepo
    lifecycle: OrderLifecycle

    def owned_or_staff(self, who: Caller, order_id: str) -> dict[str, Any]:
        """The order, for its owner, a manager or an admin; a 404 for anyone else."""
        order = self.orders.get(order_id)
        if order and (order["userId"] == who.user_id or who.role in ("admin", "manager")):
            return order
        raise NotFound("order not found")

    def get(self, who: Caller, order_id: str, client: ClientInfo) -> dict[str, Any]:
        """An unpaid order past its hold is expired on read, so nobody sees a stale hold."""
        order = visible(self.orders, who, order_id)
        if order["status"] == rules.PENDING_PAYMENT and int(order["reservation"]["expiresAt"]) <= time.time():
            actor = Actor("system", "system", client.ip, "expiry-on-read")
            order = self.lifecycle.expire(order, actor) or load(self.orders, order_id)
        if who.role == "vendor" and order["userId"] != who.user_id:
            return vendor_view(order, who.vendor_id)
        return view(order)

    def list_page(
        self,
        who: Caller,
        wanted: rules.OrderFilter,
        limit: int,
        cursor: dict[str, Any] | None,
        delivery_date: str | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Customers list their own orders; managers and admins filter by user, status, dates
        or day (today by default). Each filter is one Query on an index; ``delivery_date``
        narrows any listing's page to the orders delivered that date (a page may come back
        short, its cursor goes on)."""
        staff = who.role in ("admin", "manager")
        if delivery_date and staff and not (wanted.user_id or wanted.status):  # the day listing is by creation
            raise Unprocessable(
                "deliveryDate narrows your own, a status or a userId listing; a date's deliveries: GET /deliveries",
                fields={"deliveryDate": "needs status or userId"},
            )
        items, last = self._page(who, wanted, limit, cursor)
        if delivery_date:
            items = [o for o in items if o.get("deliveryDate") == delivery_date]
        return [view(o) for o in items], last

    def _page(
        self, who: Caller, wanted: rules.OrderFilter, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        if who.role not in ("admin", "manager"):
            if wanted.any():
                raise Forbidden("only managers and admins filter orders")
            return self.orders.query("byUser", "userId", who.user_id, limit, cursor)
        start, end = wanted.start, wanted.end
        if wanted.user_id:
            items, last = self.orders.query("byUser", "userId", wanted.user_id, limit, cursor, start, end)
            if wanted.status:
                items = [o for o in items if o["status"] == wanted.status]
        elif wanted.status:
            items, last = self.orders.query("byStatus", "status", wanted.status, limit, cursor, start, end)
        else:
            day = wanted.day or datetime.now(UTC).date().isoformat()
            items, last = self.orders.query("byDay", "day", day, limit, cursor)
        return items, last
