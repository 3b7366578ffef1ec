"""The in-process moto the benches that need no local stack run in: the template's resources
provisioned, the stage's settings, the sender verified; and a bulk loader for seeding."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def in_moto() -> Iterator[Any]:
    """Yields the stage's settings inside a fresh moto with the template provisioned."""
    os.environ.update(
        {
            "FRESHCART_STAGE": "local",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from moto import mock_aws

    from chalicelib import bootstrap
    from chalicelib.core import aws, config
    from freshcart_local.provision import provision

    with mock_aws():
        aws.reset()
        config.reset()
        bootstrap.reset()
        os.environ.update(provision("local", "us-east-1"))
        config.reset()
        settings = config.get_settings()
        aws.client("ses").verify_email_identity(EmailAddress=settings.mail_from)
        yield settings


def put_all(ddb: Any, table: str, items: list[dict[str, Any]]) -> None:
    """BatchWriteItem in chunks of 25, unprocessed items written again."""
    from chalicelib.core.dynamo import to_item

    for i in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": to_item(x)}} for x in items[i : i + 25]]}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
