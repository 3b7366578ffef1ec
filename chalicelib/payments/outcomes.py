"""The checkout's vocabulary, shared by the Python steps and the state machines: the ASL in
``stepfunctions/`` is generated from these (``stepfunctions/generate.py``; a test holds the
committed files to it), so a renamed outcome cannot leave a Choice pointing nowhere."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Where an Express checkout run starts (its input's ``phase``)."""

    START = "start"  # validate, screen, charge
    CHARGED = "charged"  # Stripe took the money (3-D Secure finished, a deferred charge retried)
    APPROVED = "approved"  # a manager approved a held payment: charge it


class ChargeOutcome(StrEnum):
    """What a charge came to (the Charge step's ``outcome``)."""

    SUCCEEDED = "succeeded"
    REQUIRES_ACTION = "requires_action"  # 3-D Secure
    PROCESSING = "processing"  # neither taken nor declined yet: asked again later (Transient)
    DECLINED = "declined"


class FraudDecision(StrEnum):
    PASS = "pass"
    HOLD = "hold"  # a manager reviews it
    BLOCK = "block"


class Finish(StrEnum):
    """How a checkout run ends when it does not end paid (the Finish step's ``outcome``)."""

    FAILED = "failed"  # refused for a business reason: nothing taken
    DEFERRED = "deferred"  # Stripe did not answer: the failed-transactions queue charges again
    BROKEN = "broken"  # a step failed before the charge
    CHARGE_BROKEN = "charge_broken"  # the charge step died: its answer may be lost
    COMPENSATE = "compensate"  # a step after the charge failed: give the money back
    FANOUT_FAILED = "fanout_failed"  # paid; a notification, the archive or analytics failed


class WaitKind(StrEnum):
    ACTION = "action"  # 3-D Secure
    REVIEW = "review"  # a fraud hold
