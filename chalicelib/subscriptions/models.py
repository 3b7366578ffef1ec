"""Request bodies for subscriptions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt, model_validator

from chalicelib.catalog.models import Id
from chalicelib.core.schema import Body, Day, Patch, Rule

Weekday = Literal[0, 1, 2, 3, 4, 5, 6]


class SubscriptionBody(Body):
    """``weekdays`` (0 = Monday) for WEEKLY only; ``endDate`` on or after ``startDate``."""

    productId: Id
    variantId: Id
    quantity: StrictInt = Field(ge=1, le=50)
    frequency: Literal["DAILY", "ALTERNATE", "WEEKLY"]
    weekdays: list[Weekday] | None = Field(default=None, min_length=1, max_length=7)
    deliverySlot: Literal["MORNING", "EVENING"]
    startDate: Day
    endDate: Day | None = None
    addressId: Id

    @model_validator(mode="after")
    def _shape(self) -> SubscriptionBody:
        if self.frequency == "WEEKLY" and not self.weekdays:
            raise Rule("a WEEKLY subscription names its weekdays", field="weekdays")
        if self.frequency != "WEEKLY" and self.weekdays:
            raise Rule("weekdays are for WEEKLY subscriptions", field="weekdays")
        if self.endDate is not None and self.endDate < self.startDate:
            raise Rule("endDate is before startDate", field="endDate")
        return self


class SubscriptionPatch(Patch):
    """From ``fromDate`` on (a date's order not placed yet), or from the next order."""

    quantity: StrictInt | None = Field(default=None, ge=1, le=50)
    deliverySlot: Literal["MORNING", "EVENING"] | None = None
    fromDate: Day | None = None


class PauseBody(Body):
    from_: Day = Field(alias="from")
    to: Day

    @model_validator(mode="after")
    def _order(self) -> PauseBody:
        if self.to < self.from_:
            raise Rule("to is before from", field="to")
        return self


class SkipBody(Body):
    date: Day
