"""subscriptions: a product delivered on a schedule, ordered and paid by the daily job."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic.config import JsonDict

from chalicelib.core.openapi import PAGE, ROLES, Op
from chalicelib.core.schema import Instant, Page, View

TAG = "subscriptions"
M = "chalicelib.subscriptions.models"
C = "chalicelib.subscriptions.contract"
DATE: JsonDict = {"format": "date"}


class Pause(View):
    from_: str = Field(alias="from", json_schema_extra=DATE)
    to: str = Field(json_schema_extra=DATE)


class DatedChange(View):
    from_: str = Field(alias="from", json_schema_extra=DATE)
    quantity: int | None = None
    deliverySlot: Literal["MORNING", "EVENING"] | None = None


class Subscription(View):
    subscriptionId: str
    productId: str
    variantId: str
    quantity: int
    frequency: Literal["DAILY", "ALTERNATE", "WEEKLY"]
    weekdays: list[int] | None = None
    deliverySlot: Literal["MORNING", "EVENING"]
    startDate: str = Field(json_schema_extra=DATE)
    endDate: str | None = Field(default=None, json_schema_extra=DATE)
    addressId: str
    status: Literal["ACTIVE", "PAUSED", "CANCELLED"]
    pauses: list[Pause]
    skips: list[str]
    changes: list[DatedChange] | None = None  # quantity or slot from a date on
    nextDate: str | None = Field(default=None, json_schema_extra=DATE)  # the next order's date; none when over
    failedDates: int
    createdAt: Instant
    updatedAt: Instant


class SubscriptionPage(Page):
    items: list[Subscription]


ONE = "/subscriptions/{subscription_id}"
ROUTES: dict[tuple[str, str], Op] = {
    ("POST", "/subscriptions"): Op(
        f"{C}:Subscription", 201, f"{M}:SubscriptionBody", roles=ROLES, errors=(404, 409, 422)
    ),
    ("GET", "/subscriptions"): Op(f"{C}:SubscriptionPage", query=PAGE, roles=ROLES),
    ("GET", ONE): Op(f"{C}:Subscription", roles=ROLES),
    ("PATCH", ONE): Op(f"{C}:Subscription", body=f"{M}:SubscriptionPatch", roles=ROLES, errors=(409, 422)),
    ("DELETE", ONE): Op(f"{C}:Subscription", roles=ROLES, errors=(409,)),
    ("POST", ONE + "/pause"): Op(f"{C}:Subscription", body=f"{M}:PauseBody", roles=ROLES, errors=(409, 422)),
    ("POST", ONE + "/skip"): Op(f"{C}:Subscription", body=f"{M}:SkipBody", roles=ROLES, errors=(409, 422)),
    ("POST", ONE + "/resume"): Op(f"{C}:Subscription", roles=ROLES, errors=(409,)),
}
