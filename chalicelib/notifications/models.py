"""Request bodies for notifications."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.core.schema import NOT_BLANK, Body


class DeviceBody(Body):
    """A phone's push token from FCM (android) or APNs (ios)."""

    platform: Literal["android", "ios"]
    token: str = Field(min_length=8, max_length=4096, pattern=NOT_BLANK)
