"""Identity rules: registration, login, sessions (rotating refresh families), profile, admin."""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.audit import repo as audit
from chalicelib.audit.repo import Actor
from chalicelib.core import logs, ratelimit
from chalicelib.core.config import get_settings
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    ValidationError,
)
from chalicelib.users import rules, tokens
from chalicelib.users.repo import UsersRepo, email_key, username_key

if TYPE_CHECKING:
    from chalicelib.users import models

MAX_DEVICES = 10
MAX_ADDRESSES = 10
MAX_EDIT_ATTEMPTS = 5


def _now() -> str:
    return datetime.now(UTC).isoformat()


def subject(user_id: str) -> str:
    return f"USER#{user_id}"


@dataclass
class UserService:
    repo: UsersRepo

    # -- registration -----------------------------------------------------------------------
    def register(self, body: models.RegisterBody, client: ClientInfo) -> dict[str, Any]:
        problem = rules.password_problem(body.password, body.email, body.username)
        if problem:
            raise ValidationError(f"password {problem}", fields={"password": problem})
        user_id = str(uuid.uuid4())
        now = _now()
        device = _device(body.deviceInfo, client, now)
        user = {
            "userId": user_id,
            "username": body.username,
            "email": body.email.lower(),
            "passwordHash": tokens.hash_password(body.password),
            "role": "customer",
            "status": "active",
            "emailVerified": False,
            "profileCompletionPrompted": False,
            "addresses": [],
            "preferences": {},
            "devices": [device],
            "sessions": {},
            "region": client.country or (body.deviceInfo.region if body.deviceInfo else None),
            "registeredIp": client.ip,
            "createdAt": now,
            "updatedAt": now,
            "lastActiveAt": now,
            "tokenVersion": 0,
            "version": 0,
            "orderCount": 0,
            "correlationId": logs.correlation_id.get(),
        }
        actor = Actor(user_id, "customer", client.ip, client.user_agent)
        self.repo.create(user, [audit.put_request(subject(user_id), "register", actor)])
        return {"userId": user_id, "status": "created", "role": "customer"}

    def check(self, body: models.CheckBody, client: ClientInfo) -> dict[str, str]:
        s = get_settings()
        w = ratelimit.window(f"check:{client.ip}", s.check_window_seconds)
        if ratelimit.hit(w) > s.check_max_per_window:
            raise TooManyRequests("too many checks; slow down", w.retry_after())
        lock = email_key(body.email) if body.email else username_key(body.username or "")
        return {"next": "login" if self.repo.lock_exists(lock) else "register"}

    # -- sessions -------------------------------------------------------------------------
    def login(self, body: models.LoginBody, client: ClientInfo) -> dict[str, Any]:
        s = get_settings()
        login_id = (body.email or body.username or "").lower()
        w = ratelimit.window(f"loginfail:{login_id}", s.login_window_seconds)
        lock = email_key(login_id) if body.email else username_key(login_id)
        user_id, failures = self.repo.login_lookup(lock, s.ratelimit_table, w.key)
        if failures >= s.login_max_failures:
            raise TooManyRequests("too many failed logins; try again later", w.retry_after())
        user = self.repo.get(user_id) if user_id else None
        if not tokens.check_password(body.password, user.get("passwordHash") if user else None) or not user:
            ratelimit.hit(w)
            actor = Actor(user_id or "anonymous", user["role"] if user else "", client.ip, client.user_agent)
            audit.write(subject(user_id) if user_id else f"LOGIN#{login_id}", "login_failure", actor)
            raise Unauthorized("email/username or password is wrong", code="invalid_credentials")
        if user.get("status") != "active":
            raise Forbidden("account is disabled", code="account_disabled")

        now = _now()
        device = _device(body.deviceInfo, client, now)
        devices, is_new = _merge_device(user.get("devices", []), device)
        sid = uuid.uuid4().hex
        refresh = tokens.issue(tokens.REFRESH, user["userId"], s.refresh_ttl_seconds, sid=sid)
        session = {"jti": refresh.jti, "exp": refresh.expires_at, "createdAt": now, "ip": client.ip}
        stale = _stale_sessions(user.get("sessions", {}), s.max_sessions - 1)
        actor = Actor(user["userId"], user["role"], client.ip, client.user_agent)
        details = {"newDevice": True} if is_new else None
        self.repo.record_login(
            user["userId"],
            sid,
            session,
            devices,
            now,
            stale,
            [audit.put_request(subject(user["userId"]), "login_success", actor, details)],
        )
        if failures:
            ratelimit.clear(w)
        return self._token_pair(user, sid, refresh)

    def _token_pair(self, user: dict[str, Any], sid: str, refresh: tokens.Issued) -> dict[str, Any]:
        s = get_settings()
        access = tokens.issue(
            tokens.ACCESS,
            user["userId"],
            s.access_ttl_seconds,
            role=user["role"],
            sid=sid,
            ver=int(user.get("tokenVersion", 0)),
        )
        return {
            "accessToken": access.token,
            "refreshToken": refresh.token,
            "tokenType": "Bearer",
            "expiresIn": s.access_ttl_seconds,
            "userId": user["userId"],
            "role": user["role"],
            "isProfileComplete": not rules.missing_profile_fields(user),
        }

    def refresh(self, body: models.RefreshBody, client: ClientInfo) -> dict[str, Any]:
        claims = tokens.verify(body.refreshToken, tokens.REFRESH)
        user_id, sid = str(claims["sub"]), str(claims.get("sid", ""))
        if not sid:
            raise Unauthorized("token invalid", code="token_invalid")
        s = get_settings()
        new = tokens.issue(tokens.REFRESH, user_id, s.refresh_ttl_seconds, sid=sid)
        user = self.repo.rotate_session(user_id, sid, str(claims["jti"]), new.jti, new.expires_at, _now())
        if user is None:
            # A refresh token that is not the family's current one was replayed (or the family
            # is gone): end the whole family, so a thief and the owner both have to log in again.
            actor = Actor(user_id, "", client.ip, client.user_agent)
            self.repo.remove_session(
                user_id, sid, [audit.put_request(subject(user_id), "refresh_reuse_revoked", actor, {"sid": sid})]
            )
            raise Unauthorized("refresh token is no longer valid", code="token_revoked")
        return self._token_pair(user, sid, new)

    def logout(self, who: Caller, client: ClientInfo) -> None:
        actor = Actor.of(who, client)
        self.repo.remove_session(
            who.user_id, who.session_id, [audit.put_request(subject(who.user_id), "logout", actor)]
        )

    def change_password(self, who: Caller, body: models.PasswordBody, client: ClientInfo) -> None:
        user = self._get(who.user_id)
        if not tokens.check_password(body.currentPassword, user.get("passwordHash")):
            raise Unauthorized("current password is wrong", code="invalid_credentials")
        problem = rules.password_problem(body.newPassword, user["email"], user["username"])
        if problem:
            raise ValidationError(f"password {problem}", fields={"newPassword": problem})
        actor = Actor.of(who, client)
        self.repo.revoke_all(
            who.user_id,
            {"passwordHash": tokens.hash_password(body.newPassword), "updatedAt": _now()},
            [audit.put_request(subject(who.user_id), "password_change", actor)],
        )

    def verify_email(self, body: models.VerifyEmailBody) -> dict[str, Any]:
        claims = tokens.verify(body.token, tokens.VERIFY_EMAIL)
        if not self.repo.set_email_verified(str(claims["sub"]), str(claims.get("email", ""))):
            raise Unauthorized("token no longer matches the account", code="token_invalid")
        return {"emailVerified": True}

    def resend_verification(self, who: Caller) -> dict[str, Any]:
        """Ask for the verification email again (3 an hour). The request is a state change on the
        user item, so the users stream announces it like everything else."""
        user = self._get(who.user_id)
        if user.get("emailVerified"):
            raise Conflict("email is already verified", code="already_verified")
        w = ratelimit.window(f"verify:{who.user_id}", 3600)
        if ratelimit.hit(w) > 3:
            raise TooManyRequests("verification emails are limited to 3 an hour", w.retry_after())
        self.repo.request_verification(who.user_id, _now())
        return {"status": "sent"}

    # -- authorizer -----------------------------------------------------------------------
    def authorize(self, token: str) -> tuple[str, str, str, str]:
        """Returns (userId, role, sid, vendorId) for a live access token, else raises Unauthorized."""
        claims = tokens.verify(token, tokens.ACCESS)
        user_id, sid = str(claims["sub"]), str(claims.get("sid", ""))
        view = self.repo.auth_view(user_id, sid) if sid else None
        if (
            not view
            or view.get("status") != "active"
            or int(view.get("tokenVersion", 0)) != int(claims.get("ver", -1))
            or sid not in (view.get("sessions") or {})
        ):
            raise Unauthorized("token revoked", code="token_revoked")
        return user_id, str(view["role"]), sid, str(view.get("vendorId") or "")

    # -- profile --------------------------------------------------------------------------
    def _get(self, user_id: str) -> dict[str, Any]:
        user = self.repo.get(user_id)
        if not user:
            raise NotFound("user not found")
        return user

    def me(self, who: Caller) -> dict[str, Any]:
        return rules.profile_view(self._get(who.user_id))

    def update_me(self, who: Caller, body: models.ProfilePatch) -> dict[str, Any]:
        def change(user: dict[str, Any]) -> dict[str, Any]:
            changes: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"preferences"})
            if body.preferences is not None:
                changes["preferences"] = {
                    **(user.get("preferences") or {}),
                    **body.preferences.model_dump(exclude_unset=True),
                }
            return changes

        return rules.profile_view(self._edit(who.user_id, change))

    def _edit(self, user_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Read the user, apply ``change`` (a function of the current user) and write it under
        the version it was read at. Clients send no version for these edits, so a concurrent
        write (a login, another tab) is not theirs to resolve: re-read and re-apply."""
        for attempt in range(MAX_EDIT_ATTEMPTS):
            user = self._get(user_id)
            changes = change(user)
            if not changes:
                return user
            changes["updatedAt"] = _now()
            try:
                self.repo.update_profile(user_id, int(user.get("version", 0)), changes)
            except Conflict:
                if attempt == MAX_EDIT_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))  # noqa: S311 - jitter, not crypto
                continue
            return {**user, **changes, "version": int(user.get("version", 0)) + 1}
        raise AssertionError("unreachable")

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
def _device(info: models.DeviceInfo | None, client: ClientInfo, now: str) -> dict[str, Any]:
    device_id = (info.deviceId if info and info.deviceId else None) or hashlib.sha256(
        client.user_agent.encode()
    ).hexdigest()[:16]
    return {
        "key": device_id,
        "os": info.os if info else None,
        "browser": info.browser if info else None,
        "userAgent": client.user_agent,
        "ip": client.ip,
        "lastActive": now,
    }


def _merge_device(devices: list[dict[str, Any]], device: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """Most recent first, at most MAX_DEVICES. New = unseen device key or unseen IP."""
    known = any(d.get("key") == device["key"] and d.get("ip") == device["ip"] for d in devices)
    rest = [d for d in devices if not (d.get("key") == device["key"] and d.get("ip") == device["ip"])]
    merged = [{k: v for k, v in device.items() if v is not None}, *rest][:MAX_DEVICES]
    return merged, not known


def _stale_sessions(sessions: dict[str, Any], keep: int) -> list[str]:
    """Expired sessions, plus the oldest beyond ``keep`` live ones."""
    now = int(time.time())
    live = sorted(
        ((sid, s) for sid, s in sessions.items() if int(s.get("exp", 0)) > now),
        key=lambda kv: str(kv[1].get("createdAt", "")),
        reverse=True,
    )
    keep_ids = {sid for sid, _ in live[: max(keep, 0)]}
    return [sid for sid in sessions if sid not in keep_ids]


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
