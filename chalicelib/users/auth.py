"""Identity: registration, login, sessions (rotating refresh families), email verification, and
the authorizer's check. Profile and admin edits are in ``profile.py``."""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.audit import repo as audit
from chalicelib.audit.repo import Actor
from chalicelib.core import logs, ratelimit
from chalicelib.core.config import get_settings
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.core.dynamo import read_all
from chalicelib.core.errors import (
    Conflict,
    Forbidden,
    TooManyRequests,
    Unauthorized,
    ValidationError,
)
from chalicelib.users import rules, tokens
from chalicelib.users.repo import UsersRepo, email_key, username_key
from chalicelib.users.rules import subject

if TYPE_CHECKING:
    from chalicelib.users import models

MAX_DEVICES = 10


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class AuthService:
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

    def check(self, body: models.AuthCheckBody, client: ClientInfo) -> dict[str, str]:
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
        user_id, failures = read_all(self.repo.claim_read(lock), ratelimit.count_read(w))  # one BatchGetItem
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
        session = {
            "jti": refresh.jti,
            "exp": refresh.expires_at,
            "createdAt": now,
            "ip": client.ip,
            "device": device["key"],
        }
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

    def _get(self, user_id: str) -> dict[str, Any]:
        return self.repo.require(user_id)


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
    same = [d for d in devices if d.get("key") == device["key"] and d.get("ip") == device["ip"]]
    rest = [d for d in devices if not (d.get("key") == device["key"] and d.get("ip") == device["ip"])]
    # firstSeen never moves: the fraud rules judge a payment against what was seen before its login
    first_seen = (same[0].get("firstSeen") or "") if same else device["lastActive"]
    merged = [{**{k: v for k, v in device.items() if v is not None}, "firstSeen": first_seen}, *rest][:MAX_DEVICES]
    return merged, not same


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
