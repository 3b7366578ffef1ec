"""Who is asking and from where: plain values the HTTP edge builds and services take, so no
service imports the web framework."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    user_id: str
    role: str
    session_id: str
    vendor_id: str = ""


@dataclass(frozen=True)
class ClientInfo:
    ip: str
    user_agent: str
    country: str | None
