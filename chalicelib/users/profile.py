"""A user's profile and addresses, and the admin's user management."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.audit import repo as audit
from chalicelib.audit.repo import Actor
from chalicelib.core import uow
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.core.errors import (
    Conflict,
    NotFound,
)
from chalicelib.users import rules
from chalicelib.users.repo import UsersRepo
from chalicelib.users.rules import subject

if TYPE_CHECKING:
    from chalicelib.users import models

MAX_ADDRESSES = 10
MAX_EDIT_ATTEMPTS = 5


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class ProfileService:
    repo: UsersRepo

    # -- profile --------------------------------------------------------------------------
    def _get(self, user_id: str) -> dict[str, Any]:
        return self.repo.require(user_id)

    def me(self, who: Caller) -> dict[str, Any]:
        return rules.profile_view(self._get(who.user_id))

    def update_me(self, who: Caller, body: models.ProfilePatch) -> dict[str, Any]:
        def change(user: dict[str, Any]) -> dict[str, Any]:
            changes: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"preferences"})
            if body.preferences is not None:
                saved = user.get("preferences") or {}
                given = body.preferences.model_dump(exclude_unset=True)
                changes["preferences"] = {**saved, **given}
                if "notifications" in given:  # per category and channel: what is not named is kept
                    kept = dict(saved.get("notifications") or {})
                    for category, choice in given["notifications"].items():
                        kept[category] = {**(kept.get(category) or {}), **choice}
                    changes["preferences"]["notifications"] = kept
            return changes

        return rules.profile_view(self._edit(who.user_id, change))

    def _edit(self, user_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Read the user, apply ``change`` (a function of the current user) and write it under
        the version it was read at. Clients send no version for these edits, so a concurrent
        write (a login, another tab) is not theirs to resolve: re-read and re-apply."""

        def attempt() -> dict[str, Any]:
            user = self._get(user_id)
            changes = change(user)
            if not changes:
                return user
            changes["updatedAt"] = _now()
            try:
                self.repo.update_profile(user_id, int(user.get("version", 0)), changes)
            except Conflict as exc:
                raise uow.Contended from exc
            return {**user, **changes, "version": int(user.get("version", 0)) + 1}

        return uow.retrying(
            attempt, MAX_EDIT_ATTEMPTS, "profile changed concurrently; reload and retry", "version_conflict"
        )

    def add_address(self, who: Caller, body: models.AddressBody) -> dict[str, Any]:
        address = {"addressId": uuid.uuid4().hex[:12], **body.model_dump(exclude_none=True)}

        def change(user: dict[str, Any]) -> dict[str, Any]:
            addresses = list(user.get("addresses") or [])
            if len(addresses) >= MAX_ADDRESSES:
                raise Conflict(f"at most {MAX_ADDRESSES} addresses", fields={"addresses": "limit reached"})
            address["isDefault"] = body.isDefault or not addresses
            addresses.append(address)
            return {"addresses": _one_default(addresses, address["addressId"] if address["isDefault"] else None)}

        self._edit(who.user_id, change)
        return address

    def list_addresses(self, who: Caller) -> list[dict[str, Any]]:
        return list(self._get(who.user_id).get("addresses") or [])

    def update_address(self, who: Caller, address_id: str, body: models.AddressPatch) -> dict[str, Any]:
        patch = body.model_dump(exclude_unset=True)
        if patch.get("country"):
            patch["country"] = patch["country"].upper()

        def change(user: dict[str, Any]) -> dict[str, Any]:
            addresses = list(user.get("addresses") or [])
            idx = _find(addresses, address_id)
            if patch.get("isDefault") is False and addresses[idx].get("isDefault"):
                raise Conflict(
                    "choose another default address instead", fields={"isDefault": "one address must be default"}
                )
            addresses[idx] = {k: v for k, v in {**addresses[idx], **patch}.items() if v is not None}
            return {"addresses": _one_default(addresses, address_id if patch.get("isDefault") else None)}

        saved = self._edit(who.user_id, change)
        return dict(saved["addresses"][_find(saved["addresses"], address_id)])

    def delete_address(self, who: Caller, address_id: str) -> None:
        def change(user: dict[str, Any]) -> dict[str, Any]:
            addresses = list(user.get("addresses") or [])
            addresses.pop(_find(addresses, address_id))
            return {"addresses": _one_default(addresses, None)}

        self._edit(who.user_id, change)

    # -- admin ----------------------------------------------------------------------------
    def list_users(
        self, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        items, last = self.repo.list_page(limit, cursor)
        return [rules.list_view(u) for u in items], last

    def get_user(self, user_id: str) -> dict[str, Any]:
        return rules.profile_view(self._get(user_id))

    def change_role(self, who: Caller, user_id: str, role: str, client: ClientInfo) -> dict[str, Any]:
        if user_id == who.user_id:
            raise Conflict("admins cannot change their own role", fields={"userId": "is yourself"})
        user = self._get(user_id)
        if user["role"] == role:
            return rules.profile_view(user)
        actor = Actor.of(who, client)
        self.repo.revoke_all(
            user_id,
            {"role": role, "updatedAt": _now()},
            [audit.put_request(subject(user_id), "role_change", actor, {"from": user["role"], "to": role})],
        )
        return rules.profile_view({**user, "role": role})

    def set_status(self, who: Caller, user_id: str, status: str, client: ClientInfo) -> dict[str, Any]:
        if user_id == who.user_id:
            raise Conflict("admins cannot disable themselves", fields={"userId": "is yourself"})
        user = self._get(user_id)
        actor = Actor.of(who, client)
        action = "disable" if status == "disabled" else "enable"
        self.repo.revoke_all(
            user_id,
            {"status": status, "updatedAt": _now()},
            [audit.put_request(subject(user_id), action, actor)],
        )
        return rules.profile_view({**user, "status": status})


# -- helpers -------------------------------------------------------------------------------
def _find(addresses: list[dict[str, Any]], address_id: str) -> int:
    for i, a in enumerate(addresses):
        if a.get("addressId") == address_id:
            return i
    raise NotFound("address not found")


def _one_default(addresses: list[dict[str, Any]], default_id: str | None) -> list[dict[str, Any]]:
    if not addresses:
        return addresses
    if default_id is None:
        current = [a["addressId"] for a in addresses if a.get("isDefault")]
        default_id = current[0] if current else addresses[0]["addressId"]
    return [{**a, "isDefault": a["addressId"] == default_id} for a in addresses]
