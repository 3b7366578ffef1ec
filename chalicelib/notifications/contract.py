"""notifications: a user's in-app feed (every notice sent to them is also here)."""

from __future__ import annotations

from typing import Literal

from chalicelib.core.openapi import PAGE, ROLES, Op
from chalicelib.core.schema import Page, View

TAG = "notifications"
C = "chalicelib.notifications.contract"
M = "chalicelib.notifications.models"


class Notification(View):
    notificationId: str
    category: str
    title: str
    body: str
    orderId: str | None = None
    createdAt: str
    read: bool


class NotificationPage(Page):
    items: list[Notification]


class PushDevice(View):
    deviceId: str
    platform: Literal["android", "ios"]
    createdAt: str


class PushDevices(View):
    items: list[PushDevice]


class Marked(View):
    notificationId: str
    read: bool


ROUTES: dict[tuple[str, str], Op] = {
    ("GET", "/users/me/notifications"): Op(f"{C}:NotificationPage", query=PAGE, roles=ROLES),
    ("POST", "/users/me/notifications/{notification_id}/read"): Op(f"{C}:Marked", roles=ROLES),
    ("POST", "/users/me/devices"): Op(f"{C}:PushDevice", 201, f"{M}:DeviceBody", roles=ROLES, errors=(503,)),
    ("GET", "/users/me/devices"): Op(f"{C}:PushDevices", roles=ROLES),
    ("DELETE", "/users/me/devices/{device_id}"): Op(None, 204, roles=ROLES, errors=(404,)),
}
