"""Delivery slots, pure: which (date, slot) an order may ask for, and the next ones to propose.

The shop delivers in a MORNING and an EVENING slot, dates in the shop's own time (a fixed UTC
offset: India has no daylight saving, and Lambda needs no time-zone database for it). A slot can
be ordered from tomorrow on, or today until that slot's cut-off, and at most ``horizon_days``
ahead. How many orders a vendor takes per slot is the vendor's capacity (vendors/repo.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache

SLOTS = ("MORNING", "EVENING")
Slot = tuple[date, str]


@dataclass(frozen=True)
class SlotPolicy:
    cutoffs: tuple[tuple[str, time], ...]  # a slot of today may be ordered until this local time
    horizon_days: int  # how far ahead a slot may be ordered
    utc_offset_minutes: int  # the shop's time

    @classmethod
    def parse(cls, cutoffs: str, horizon_days: int, utc_offset_minutes: int) -> SlotPolicy:
        """``cutoffs``: ``MORNING=05:00,EVENING=14:00`` (each slot named once)."""
        parsed = {}
        for part in cutoffs.split(","):
            slot, _, at = part.strip().partition("=")
            if slot not in SLOTS:
                raise ValueError(f"unknown slot {slot!r} in the delivery cut-offs")
            parsed[slot] = time.fromisoformat(at)
        if set(parsed) != set(SLOTS) or horizon_days < 1:
            raise ValueError("every slot needs a cut-off and the horizon at least one day")
        return cls(tuple(parsed.items()), horizon_days, utc_offset_minutes)

    def local(self, now: datetime) -> datetime:
        return now.astimezone(timezone(timedelta(minutes=self.utc_offset_minutes)))

    def problem(self, day: date, slot: str, now: datetime) -> tuple[str, str] | None:
        """Why (``field``, message) the slot cannot be ordered at ``now``; None when it can."""
        if slot not in SLOTS:
            return "deliverySlot", f"one of {', '.join(SLOTS)}"
        here = self.local(now)
        today = here.date()
        if day < today:
            return "deliveryDate", "in the past"
        cutoff = dict(self.cutoffs)[slot]
        if day == today and here.time() >= cutoff:
            return "deliverySlot", f"today's {slot} slot closed at {cutoff.strftime('%H:%M')}"
        if day > today + timedelta(days=self.horizon_days):
            return "deliveryDate", f"at most {self.horizon_days} days ahead"
        return None

    def cutoff_at(self, day: date, slot: str) -> datetime:
        """The instant a date's slot stops taking orders (its cut-off that day, in the shop's time)."""
        return datetime.combine(day, dict(self.cutoffs)[slot], self.local(datetime.now(UTC)).tzinfo)

    def upcoming(self, now: datetime, count: int) -> list[Slot]:
        """The next ``count`` slots that can be ordered at ``now``, earliest first."""
        today = self.local(now).date()
        out: list[Slot] = []
        for offset in range(self.horizon_days + 1):
            day = today + timedelta(days=offset)
            out += [(day, s) for s in SLOTS if self.problem(day, s, now) is None]
            if len(out) >= count:
                break
        return out[:count]


def policy() -> SlotPolicy:
    """The stage's slot policy (``DELIVERY_CUTOFFS``, ``DELIVERY_HORIZON_DAYS``, ``SHOP_UTC_OFFSET_MINUTES``)."""
    from chalicelib.core.config import get_settings

    s = get_settings()
    return _parsed(s.delivery_cutoffs, s.delivery_horizon_days, s.shop_utc_offset_minutes)


@lru_cache(maxsize=4)
def _parsed(cutoffs: str, horizon_days: int, utc_offset_minutes: int) -> SlotPolicy:
    return SlotPolicy.parse(cutoffs, horizon_days, utc_offset_minutes)
