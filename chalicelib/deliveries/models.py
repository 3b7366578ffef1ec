"""Request bodies for deliveries."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool, model_validator

from chalicelib.catalog.models import Id
from chalicelib.core.schema import NOT_BLANK, Body, Day, Rule


class AssignBody(Body):
    driverId: Id


class ProofBody(Body):
    contentType: Literal["image/jpeg", "image/png"] = "image/jpeg"


class StatusBody(Body):
    """``DELIVERED`` carries the photo's key (from POST .../proof); ``FAILED`` says why."""

    status: Literal["IN_TRANSIT", "DELIVERED", "FAILED"]
    proofKey: str | None = Field(default=None, min_length=1, max_length=300, pattern=NOT_BLANK)
    reason: str | None = Field(default=None, min_length=1, max_length=500, pattern=NOT_BLANK)


class RescheduleBody(Body):
    """A failed delivery: another date and slot, or (``refund``) the customer's money back."""

    schema_rules = ({"oneOf": [{"required": ["deliveryDate", "deliverySlot"]}, {"required": ["refund"]}]},)
    deliveryDate: Day | None = None
    deliverySlot: Literal["MORNING", "EVENING"] | None = None
    refund: StrictBool | None = None

    @model_validator(mode="after")
    def _one_way(self) -> RescheduleBody:
        slot = self.deliveryDate is not None and self.deliverySlot is not None
        if self.refund is True and (self.deliveryDate or self.deliverySlot):
            raise Rule("give a new date and slot, or refund, not both", field="refund")
        if not slot and self.refund is not True:
            missing = "deliverySlot" if self.deliveryDate else "deliveryDate"
            raise Rule("give deliveryDate and deliverySlot, or refund: true", field=missing)
        return self
