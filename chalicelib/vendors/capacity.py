"""A vendor's capacity, pure: how many orders it delivers per date, in all and per slot."""

from __future__ import annotations

from typing import Any


def limits(vendor: dict[str, Any], slot: str) -> tuple[int, int]:
    """A vendor's daily and slot capacity (orders per delivery date; a slot without its own
    limit may take the whole day's; 0: it does not deliver in that slot)."""
    capacity = vendor.get("capacity") or {}
    daily = int(capacity.get("dailyOrderLimit", 0))
    return daily, int((capacity.get("slots") or {}).get(slot, daily))
