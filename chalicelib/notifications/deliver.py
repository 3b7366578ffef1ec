"""Delivering notices: each recipient's address and preferences looked up, the notice written to
their in-app feed, then sent on each channel they get it by.

Once per event x recipient x channel: each send is claimed first (one conditional write, kept a
week); a send that fails gives its claim back and the message comes back (then its DLQ), while
the channels that succeeded are not sent again. A worker that dies between a claim and its send
loses that one notice (at most once: a duplicated email is the worse failure for a shop).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.core import aws, idempotency, logs
from chalicelib.notifications import mailer
from chalicelib.notifications.devices import push
from chalicelib.notifications.notices import Notice, channels, notices
from chalicelib.notifications.repo import FeedRepo, notification_id

log = logs.get_logger("freshcart.notifications")
CLAIM_SECONDS = 7 * 86400


@dataclass(frozen=True)
class Recipient:
    key: str  # what the claims are named by: "user:<id>", "vendor:<id>"
    user_id: str | None  # whose feed (a vendor's: its owner's)
    email: str | None
    phone: str | None
    preferences: dict[str, Any] = field(default_factory=dict)


class Notifier:
    def __init__(self) -> None:
        from chalicelib.orders.repo import OrdersRepo
        from chalicelib.users.repo import UsersRepo
        from chalicelib.vendors.repo import VendorsRepo

        self.users, self.vendors, self.orders, self.feed = UsersRepo(), VendorsRepo(), OrdersRepo(), FeedRepo()

    def deliver(self, event: dict[str, Any]) -> str:
        data = dict(event["data"])
        if event["type"] == "OrderPaid":  # the vendors are told their own lines
            data |= self._vendor_lines(str(data["orderId"]))
        sent, failed = 0, []
        for notice in notices(event["type"], data):
            for recipient in self._recipients(notice.to):
                ok, n = self._one(event, notice, recipient)
                sent += n
                if not ok:
                    failed.append(recipient.key)
        if failed:
            raise RuntimeError(f"{event['type']}: a channel failed for {failed}; retried, then dead-lettered")
        return f"sent {sent}"

    def _one(self, event: dict[str, Any], notice: Notice, to: Recipient) -> tuple[bool, int]:
        sent, ok = 0, True
        if to.user_id:
            at = _millis(event.get("time"))  # the feed is in the order things happened, not were told
            item = {
                "notificationId": notification_id(event["eventId"], to.key, at),
                "category": notice.category,
                "title": notice.title,
                "body": notice.text,
                "orderId": notice.order_id,
                "createdAt": event.get("time") or "",
            }
            sent += int(self.feed.add(to.user_id, {k: v for k, v in item.items() if v is not None}))
        for channel in channels(notice.category, to.preferences):
            targets = self._addresses(channel, to)
            for address in targets:  # none: no address for it (push: no phone registered)
                claim = f"notify:{event['eventId']}:{to.key}:{channel}" + (f":{address}" if channel == "push" else "")
                if not idempotency.claim(claim, CLAIM_SECONDS, lease_seconds=CLAIM_SECONDS):
                    continue  # sent before (a redelivered event)
                try:
                    self._send(channel, address, notice)
                    sent += 1
                except Exception:
                    idempotency.release(claim)
                    log.exception("notice not sent", extra={"channel": channel, "eventId": event["eventId"]})
                    ok = False
        return ok, sent

    def _addresses(self, channel: str, to: Recipient) -> list[str]:
        if channel == "email":
            return [to.email] if to.email else []
        if channel == "sms":
            return [to.phone] if to.phone else []
        return [str(d["endpointArn"]) for d in self.feed.devices(to.user_id)] if to.user_id else []

    @staticmethod
    def _send(channel: str, address: str, notice: Notice) -> None:
        if channel == "email":
            mailer.send(address, f"{notice.title} - freshcart", notice.text, with_html=True)
        elif channel == "sms":
            aws.client("sns").publish(PhoneNumber=address, Message=f"freshcart: {notice.text}"[:1400])
        else:
            push(address, notice.title, notice.text)

    def _recipients(self, to: str) -> list[Recipient]:
        kind, _, ident = to.partition(":")
        if kind in ("user", "driver"):
            user = self.users.get(ident)
            return [self._of_user(user)] if user else []
        if kind == "vendor":
            vendor = self.vendors.get(ident) or {}
            owner = self.users.get(str(vendor["ownerUserId"])) if vendor.get("ownerUserId") else None
            contact = vendor.get("contact") or {}
            return [
                Recipient(
                    f"vendor:{ident}",
                    (owner or {}).get("userId"),
                    contact.get("email"),
                    _phone(contact.get("phone")),
                    (owner or {}).get("preferences") or {},
                )
            ]
        if kind == "managers":
            return [self._of_user(u) for u in self.users.staff(("manager",)) if u.get("status", "active") == "active"]
        return []

    @staticmethod
    def _of_user(user: dict[str, Any]) -> Recipient:
        return Recipient(
            f"user:{user['userId']}",
            str(user["userId"]),
            user.get("email"),
            _phone(user.get("phone")),
            user.get("preferences") or {},
        )

    def _vendor_lines(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id) or {}
        lines: dict[str, list[dict[str, Any]]] = {}
        for line in order.get("lines", []):
            lines.setdefault(str(line["vendorId"]), []).append(line)
        return {
            "vendorLines": lines,
            "deliveryDate": order.get("deliveryDate"),
            "deliverySlot": order.get("deliverySlot"),
        }


def _phone(value: Any) -> str | None:
    """A profile's phone as SNS takes it (E.164: + and digits only)."""
    if not value:
        return None
    digits = "".join(c for c in str(value) if c.isdigit())
    return f"+{digits}" if digits else None


def _millis(when: Any) -> int:
    """An event's time (ISO 8601) in epoch milliseconds; now when it has none."""
    try:
        return int(datetime.fromisoformat(str(when)).timestamp() * 1000)
    except ValueError:
        return 0  # no time: still the same id on a redelivery (it lists as the oldest)
