"""Audit log: who did what, when, from where, in which role. Rows expire after 90 days (TTL).

Rows are written in the SAME transaction as the state change they describe (``put_request``)
so an action can never happen without its audit row, nor the reverse.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.core.dynamo import query_page, to_item
from chalicelib.core.tx import Tagged


@dataclass(frozen=True)
class Actor:
    user_id: str
    role: str
    ip: str
    device: str

    @classmethod
    def of(cls, who: Caller, client: ClientInfo) -> Actor:
        return cls(who.user_id, who.role, client.ip, client.user_agent)


def entry(subject: str, action: str, actor: Actor, details: dict[str, Any] | None = None) -> dict[str, Any]:
    s = get_settings()
    now = datetime.now(UTC)
    return {
        "pk": subject,
        "sk": f"{now.isoformat()}#{uuid.uuid4().hex[:8]}",
        "action": action,
        "actorId": actor.user_id,
        "actorRole": actor.role,
        "at": now.isoformat(),
        "ip": actor.ip,
        "device": actor.device,
        "details": details or None,
        "expiresAt": int(time.time()) + s.audit_ttl_days * 86400,
    }


def put_request(subject: str, action: str, actor: Actor, details: dict[str, Any] | None = None) -> Tagged:
    """A transaction element for one audit row (tagged ``audit:<subject>``)."""
    item = {"Put": {"TableName": get_settings().audit_table, "Item": to_item(entry(subject, action, actor, details))}}
    return Tagged(f"audit:{subject}", item)


def write(subject: str, action: str, actor: Actor, details: dict[str, Any] | None = None) -> None:
    """For audit rows with no state change beside them (a failed login)."""
    aws.client("dynamodb").put_item(
        TableName=get_settings().audit_table, Item=to_item(entry(subject, action, actor, details))
    )


def list_for(subject: str, limit: int = 50) -> list[dict[str, Any]]:
    """Newest first."""
    return query_page(
        aws.client("dynamodb"),
        get_settings().audit_table,
        ("pk", subject),
        limit,
        None,
        newest_first=True,
        keep=("sk",),
    )[0]
