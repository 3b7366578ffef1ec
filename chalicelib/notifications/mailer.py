"""SES gateway: the only code that sends email."""

from __future__ import annotations

from chalicelib.core import aws
from chalicelib.core.config import get_settings


def send(to: str, subject: str, text: str) -> str:
    resp = aws.client("ses").send_email(
        Source=get_settings().mail_from,
        Destination={"ToAddresses": [to]},
        Message={
            "Subject": {"Data": subject, "Charset": "UTF-8"},
            "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
        },
    )
    return str(resp["MessageId"])
