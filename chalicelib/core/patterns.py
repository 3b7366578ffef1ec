"""Shapes of identifiers and codes, as regular expressions that mean the same in Python and in
JSON Schema (ECMA 262). No pydantic here: GET routes check query parameters with them at cold start."""

from __future__ import annotations

ID = r"^[A-Za-z0-9_-]{1,64}$"
SLUG = r"^[a-z0-9][a-z0-9-]{0,39}$"
PINCODE = r"^[A-Za-z0-9][A-Za-z0-9 -]{1,8}[A-Za-z0-9]$"
CURRENCY = r"^[A-Z]{3}$"
PROMO_CODE = r"^[A-Z0-9_-]{3,20}$"
# RFC 3339 date-time (what JSON Schema's "date-time" format means) and full-date.
DATE_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# An Idempotency-Key: printable ASCII, no surrounding spaces, at most 100 characters.
IDEMPOTENCY_KEY = r"^[!-~]([ -~]{0,98}[!-~])?$"
# A page cursor: base64url of a JSON object (so it starts with "eyJ", the encoding of '{"').
CURSOR = r"^eyJ[A-Za-z0-9_-]{5,}={0,2}$"
# A correlation id we echo and log: no spaces, quotes or control characters (log injection).
CORRELATION_ID = r"^[A-Za-z0-9._:-]{1,128}$"
