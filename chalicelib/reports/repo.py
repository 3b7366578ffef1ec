"""The report's objects in the archive bucket: ``reports/daily/<date>/report.json``,
``report.csv`` and ``index.html``. A re-run of a day overwrites the same three keys."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import aws
from chalicelib.core.config import get_settings

PREFIX = "reports/daily/"
JSON, CSV, HTML = "report.json", "report.csv", "index.html"
TYPES = {JSON: "application/json", CSV: "text/csv; charset=utf-8", HTML: "text/html; charset=utf-8"}


def key(day: str, name: str) -> str:
    return f"{PREFIX}{day}/{name}"


class ReportsRepo:
    @property
    def bucket(self) -> str:
        return get_settings().archive_bucket

    @property
    def s3(self) -> Any:
        return aws.client("s3")

    def put(self, day: str, report: dict[str, Any], csv: str, html: str) -> list[str]:
        """The JSON last: it is what the API serves, so a reader never sees a new JSON with an
        old page."""
        written = []
        for name, body in ((CSV, csv), (HTML, html), (JSON, json.dumps(report, separators=(",", ":")))):
            self.s3.put_object(Bucket=self.bucket, Key=key(day, name), Body=body.encode(), ContentType=TYPES[name])
            written.append(key(day, name))
        return written

    def _get(self, day: str, name: str) -> bytes | None:
        try:
            resp = self.s3.get_object(Bucket=self.bucket, Key=key(day, name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return bytes(resp["Body"].read())

    def report(self, day: str) -> dict[str, Any] | None:
        body = self._get(day, JSON)
        return json.loads(body) if body is not None else None

    def page(self, day: str) -> str | None:
        body = self._get(day, HTML)
        return body.decode() if body is not None else None
