"""The one loop over an SQS batch: each record on its own, under the correlation id of the request
that caused it; a failure is reported back (ReportBatchItemFailures), retried by SQS, then
dead-lettered, and the rest of the batch is not redone."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib.core import logs


def each(
    records: Iterable[Any], apply: Callable[[dict[str, Any]], str], log: logging.Logger, what: str
) -> dict[str, Any]:
    failures = []
    for record in records:
        token = logs.correlation_id.set("-")
        message_id = record.to_dict()["messageId"]
        try:
            body = json.loads(record.body)
            if isinstance(body, dict) and body.get("correlationId"):  # the request that caused it
                logs.correlation_id.set(str(body["correlationId"]))
            outcome = apply(body)
            log.info(what, extra={"outcome": outcome, "messageId": message_id})
        except Exception:
            log.exception(f"{what} failed", extra={"messageId": message_id})
            failures.append({"itemIdentifier": message_id})
        finally:
            logs.correlation_id.reset(token)
    return {"batchItemFailures": failures}
