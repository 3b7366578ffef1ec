"""SES gateway: the only code that sends email (text, and the same as simple HTML)."""

from __future__ import annotations

import html
from typing import Any

from chalicelib.core import aws
from chalicelib.core.config import get_settings


def as_html(subject: str, text: str) -> str:
    """The text as a small HTML page: escaped, a paragraph per blank-line block, lines kept."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(subject)}</title></head>'
        f'<body style="font-family:sans-serif;max-width:36em">{body}'
        '<p style="color:#888;font-size:small">freshcart</p></body></html>'
    )


def send(to: str, subject: str, text: str, with_html: bool = False) -> str:
    """``with_html``: a notice (HTML and text parts); account mail (a token to copy) is text only."""
    body: dict[str, Any] = {"Text": {"Data": text, "Charset": "UTF-8"}}
    if with_html:
        body["Html"] = {"Data": as_html(subject, text), "Charset": "UTF-8"}
    resp = aws.client("ses").send_email(
        Source=get_settings().mail_from,
        Destination={"ToAddresses": [to]},
        Message={"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body},
    )
    return str(resp["MessageId"])
