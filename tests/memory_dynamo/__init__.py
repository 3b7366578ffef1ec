"""An in-memory DynamoDB client: the low-level calls the code under chalicelib makes, in the wire
format, over the tables infra/resources.json defines, so the services run without moto.

    with installed() as dynamo:   # aws.client("dynamodb") is ``dynamo`` inside
        ...

Implemented (``tests/integration/test_memory_dynamo_contract.py`` holds it to moto):
GetItem, PutItem, UpdateItem, DeleteItem (ConditionExpression, ReturnValues), Query (tables and
GSIs, sparse; KeyConditionExpression, FilterExpression, ProjectionExpression, the index's
projection, ScanIndexForward, Limit, ExclusiveStartKey/LastEvaluatedKey, Select=COUNT),
BatchGetItem and TransactWriteItems (all or nothing, CancellationReasons per item,
ClientRequestToken for 10 minutes, ConditionCheck). Modules: ``values`` (the wire format, paths),
``parser`` and ``evaluate`` (expressions), ``tables`` (infra/resources.json), ``client``.

As DynamoDB does, and moto may not: parameters are checked against botocore's model of the API,
a placeholder defined but unused is a ValidationException, a key must be exactly the table's,
index keys must have their declared type, a GSI read cannot be consistent, a page that reaches
``Limit`` carries a LastEvaluatedKey even when nothing follows, and BatchGetItem answers in no
particular order (here: key order, not request order). Anything else (a parameter or call not
listed, syntax it cannot parse) raises ``NotImplementedError``. One lock serialises the calls,
as DynamoDB applies each request atomically; ``hooks`` run before each call, outside the lock
(fault injection, or a barrier that makes threads read before any writes).

Not modelled: Scan and BatchWriteItem (nothing under chalicelib calls them), the 400 KB item
and 1 MB page limits, capacity and throttling, streams, TTL, and TransactionConflict (a hook can
raise one: ``error("TransactionCanceledException", ..., CancellationReasons=[...])``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator

from tests.memory_dynamo.client import MemoryDynamo
from tests.memory_dynamo.tables import error

__all__ = ["MemoryDynamo", "error", "installed"]


@contextlib.contextmanager
def installed(clock: Callable[[], float] = time.time) -> Iterator[MemoryDynamo]:
    """A fresh MemoryDynamo as ``chalicelib.core.aws``'s DynamoDB client, for the stage the
    settings name (its tables must be the ones the settings name); the clients are dropped after."""
    from chalicelib.core import aws, config

    config.reset()
    settings = config.get_settings()
    dynamo = MemoryDynamo.for_stage(settings.stage, clock)
    wanted = {getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name.endswith("_table")}
    missing = wanted - set(dynamo.tables)
    assert not missing, f"settings name tables infra/resources.json does not define for {settings.stage}: {missing}"
    aws.reset()
    aws._clients["dynamodb"] = dynamo
    try:
        yield dynamo
    finally:
        aws.reset()
        config.reset()
