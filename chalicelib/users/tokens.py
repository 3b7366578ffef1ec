"""JWT issue/verify (HS256 pinned) and bcrypt password hashing.

The signing key lives in Secrets Manager (the template generates it); it is read once per
container. bcrypt is imported where used so routes that never hash stay light at cold start.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Unauthorized

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "typ", "sub"]
ACCESS, REFRESH, VERIFY_EMAIL = "access", "refresh", "verify-email"

_secret: str | None = None
_secret_lock = threading.Lock()


def signing_key() -> str:
    global _secret
    if _secret is None:
        with _secret_lock:
            if _secret is None:
                resp = aws.client("secretsmanager").get_secret_value(SecretId=get_settings().jwt_secret_id)
                _secret = str(resp["SecretString"])
    return _secret


def reset() -> None:
    global _secret
    _secret = None


@dataclass(frozen=True)
class Issued:
    token: str
    jti: str
    expires_at: int


def issue(typ: str, subject: str, ttl_seconds: int, **claims: Any) -> Issued:
    s = get_settings()
    now = int(time.time())
    jti = uuid.uuid4().hex
    payload = {
        "iss": s.jwt_issuer,
        "aud": s.jwt_audience,
        "sub": subject,
        "typ": typ,
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": jti,
        **claims,
    }
    return Issued(jwt.encode(payload, signing_key(), algorithm=ALGORITHM), jti, now + ttl_seconds)


def verify(token: str, typ: str) -> dict[str, Any]:
    """Decode and check a token of the expected type; any failure is a 401."""
    s = get_settings()
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            signing_key(),
            algorithms=[ALGORITHM],
            audience=s.jwt_audience,
            issuer=s.jwt_issuer,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired", code="token_expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("token invalid", code="token_invalid") from None
    if claims.get("typ") != typ:
        raise Unauthorized("token invalid", code="token_invalid")
    return claims


def hash_password(password: str) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=get_settings().bcrypt_rounds)).decode()


def check_password(password: str, hashed: str | None) -> bool:
    """Constant work whether or not the user exists (no timing oracle for enumeration)."""
    import bcrypt

    target = hashed or _dummy_hash()
    ok = bcrypt.checkpw(password.encode()[:72], target.encode())
    return ok and hashed is not None


_dummy: str | None = None


def _dummy_hash() -> str:
    global _dummy
    if _dummy is None:
        _dummy = hash_password("not-a-real-password-0")
    return _dummy
