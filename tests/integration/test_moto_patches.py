"""The moto internals the local stack relies on (freshcart_local/moto_patches.py), checked loudly,
and the DynamoDB behaviour they give: cancelled transactions leave no trace and do not deafen
stream readers; ClientRequestToken makes a retried transaction succeed once."""

from __future__ import annotations

import hashlib
import inspect
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.core import aws as clients
from freshcart_local import moto_patches

TABLE = "patch-canary"


def test_canary_moto_internals_are_the_ones_we_replaced() -> None:
    """Fails loudly when moto is upgraded: re-read freshcart_local/moto_patches.py against the
    new moto, then update the pinned version and digests."""
    import moto
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard, Table

    assert moto.__version__ == moto_patches.PINNED_MOTO
    assert DynamoDBBackend.transact_write_items is moto_patches.transact_write_items
    for name, digest in moto_patches.REPLACED_SOURCES.items():
        original = moto_patches.ORIGINALS[".".join(name.split(".")[-2:])]
        assert hashlib.sha256(inspect.getsource(original).encode()).hexdigest() == digest, f"{name} changed"
    # What the undo log touches: a table's ``items`` (dict of dicts for hash+range tables) and
    # its stream shard's record list, whose length gives the sequence numbers.
    assert "self.items[hash_value][range_value] = item" in inspect.getsource(Table.put_item)
    assert "seq = len(self.items) + self.starting_sequence_number" in inspect.getsource(StreamShard.add)
    # An update of a missing item: moto puts the bare key first (a record) then updates it.
    assert "table.put_item(data)" in inspect.getsource(moto_patches.ORIGINALS["DynamoDBBackend.update_item"])


@pytest.fixture
def table(aws: dict[str, str]) -> Any:
    ddb = clients.client("dynamodb")
    ddb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return ddb


def key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "A"}}


def put_new(pk: str, **attrs: Any) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": TABLE,
            "Item": {**key(pk), **attrs},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def add_one(pk: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": key(pk),
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def stream_reader(ddb: Any) -> tuple[Any, str]:
    streams = clients.client("dynamodbstreams")
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return streams, it


def read(streams: Any, iterator: str) -> tuple[list[dict[str, Any]], str]:
    resp = streams.get_records(ShardIterator=iterator)
    return resp["Records"], resp["NextShardIterator"]


def cancel_reasons(exc: ClientError) -> list[str]:
    return [r["Code"] for r in exc.response["CancellationReasons"]]


def test_cancelled_transaction_leaves_no_trace_and_streams_keep_flowing(table: Any) -> None:
    ddb = table
    ddb.transact_write_items(TransactItems=[put_new("taken")])
    streams, it = stream_reader(ddb)  # a reader's iterator, held across the cancellations
    records, it = read(streams, it)
    assert [r["eventName"] for r in records] == ["INSERT"]

    for i in range(3):  # a new item and a counter first, then the failing condition
        with pytest.raises(ClientError) as exc:
            ddb.transact_write_items(TransactItems=[put_new(f"new{i}"), add_one("counter"), put_new("taken")])
        assert cancel_reasons(exc.value) == ["None", "None", "ConditionalCheckFailed"]
    assert "Item" not in ddb.get_item(TableName=TABLE, Key=key("new0"))
    assert "Item" not in ddb.get_item(TableName=TABLE, Key=key("counter"))
    assert read(streams, it)[0] == []  # no stream record for what was rolled back

    ddb.transact_write_items(TransactItems=[put_new("after"), add_one("counter")])
    records, _ = read(streams, it)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records] == [
        ("INSERT", "after"),
        ("INSERT", "counter"),  # one record for an update that creates an item, as DynamoDB sends
    ]
    assert records[1]["dynamodb"]["NewImage"]["n"] == {"N": "1"}


def test_cancelled_update_restores_the_previous_item(table: Any) -> None:
    ddb = table
    ddb.transact_write_items(TransactItems=[add_one("counter"), put_new("taken")])
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[add_one("counter"), put_new("taken")])
    assert ddb.get_item(TableName=TABLE, Key=key("counter"))["Item"]["n"] == {"N": "1"}


def test_validation_error_mid_transaction_rolls_back(table: Any) -> None:
    ddb = table
    bad = {
        "Update": {
            "TableName": TABLE,
            "Key": key("first2"),
            "UpdateExpression": "SET n = n + :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }  # n does not exist: invalid
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[put_new("first"), bad])
    assert "Item" not in ddb.get_item(TableName=TABLE, Key=key("first"))


def test_same_token_same_items_succeeds_once(table: Any) -> None:
    ddb = table
    items = [put_new("order-1"), add_one("counter")]
    ddb.transact_write_items(TransactItems=items, ClientRequestToken="tok-1")
    ddb.transact_write_items(TransactItems=items, ClientRequestToken="tok-1")  # a retry after a timeout
    assert ddb.get_item(TableName=TABLE, Key=key("counter"))["Item"]["n"] == {"N": "1"}


def test_same_token_other_items_is_a_mismatch(table: Any) -> None:
    ddb = table
    ddb.transact_write_items(TransactItems=[add_one("counter")], ClientRequestToken="tok-2")
    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(TransactItems=[add_one("other")], ClientRequestToken="tok-2")
    assert exc.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert "Item" not in ddb.get_item(TableName=TABLE, Key=key("other"))


def test_a_cancelled_token_can_be_retried(table: Any) -> None:
    """Only a committed transaction claims its token: after a cancellation, the same request
    is evaluated again (and may now succeed)."""
    ddb = table
    ddb.transact_write_items(TransactItems=[put_new("taken")])
    items = [
        add_one("counter"),
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": key("taken"),
                "ConditionExpression": "attribute_not_exists(gone)",
            }
        },
    ]
    ddb.transact_write_items(TransactItems=[put_new("blocker")])
    blocked = [*items, put_new("blocker")]
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=blocked, ClientRequestToken="tok-3")
    ddb.delete_item(TableName=TABLE, Key=key("blocker"))
    ddb.transact_write_items(TransactItems=blocked, ClientRequestToken="tok-3")
    assert ddb.get_item(TableName=TABLE, Key=key("counter"))["Item"]["n"] == {"N": "1"}


def test_a_cancelled_tokens_name_cannot_be_reused_for_other_items(table: Any) -> None:
    """Stricter than needed, on purpose: whether DynamoDB lets a cancelled attempt's token carry
    other items is not documented, so a caller that reused a name would fail here first."""
    ddb = table
    ddb.transact_write_items(TransactItems=[put_new("taken")])
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[put_new("taken")], ClientRequestToken="tok-4")
    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(TransactItems=[put_new("other")], ClientRequestToken="tok-4")
    assert exc.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"


def test_the_mailbox_listing_survives_lambda_functions_without_docker(aws: dict[str, str]) -> None:
    """``make mailbox`` reads /moto-api/data.json; the state machines' Lambda stand-ins were
    making it a 500 (their docker_client raises without a Docker daemon)."""
    import json

    from moto.moto_api._internal.responses import MotoAPIResponse

    from freshcart_local import provision

    provision.ensure_lambda_functions({"checkout_validate"})
    clients.client("ses").verify_email_identity(EmailAddress="shop@example.com")
    clients.client("ses").send_email(
        Source="shop@example.com",
        Destination={"ToAddresses": ["a@example.com"]},
        Message={"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "body"}}},
    )
    status, _, body = MotoAPIResponse().model_data(None, "", {})
    assert status == 200
    data = json.loads(body)
    assert [f["function_name"] for f in data["awslambda"]["LambdaFunction"]].count("checkout_validate") == 1
    assert any("a@example.com" in json.dumps(m) for m in data["ses"]["Message"])


def test_a_definition_is_validated_once_and_a_bad_one_is_still_refused(aws: dict[str, str]) -> None:
    """Patch 6: the ANTLR validation is remembered per definition text, never per name."""
    sfn = clients.client("stepfunctions")
    role = "arn:aws:iam::123456789012:role/canary"
    good = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    bad = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Nope"}}})
    for name in ("canary-1", "canary-2"):  # the second create takes the remembered validation
        sfn.create_state_machine(name=name, definition=good, roleArn=role)
    for name in ("canary-3", "canary-4"):  # refused each time: failures are not remembered
        with pytest.raises(ClientError) as exc:
            sfn.create_state_machine(name=name, definition=bad, roleArn=role)
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, exc.value.response
    names = {m["name"] for m in sfn.list_state_machines()["stateMachines"]}
    assert {"canary-1", "canary-2"} <= names and not names & {"canary-3", "canary-4"}


def test_an_express_start_with_a_used_name_starts_another_run(aws: dict[str, str]) -> None:
    """As on AWS: Express executions are not deduped by name (each run takes its own
    ``States.UUID()``); a Standard start with a used name and other input is refused."""
    from freshcart_local.provision import PLACEHOLDER_ROLE

    sfn = clients.client("stepfunctions")
    definition = json.dumps(
        {
            "StartAt": "Name",
            "States": {
                "Name": {"Type": "Pass", "Parameters": {"id.$": "States.UUID()"}, "ResultPath": "$.run", "End": True}
            },
        }
    )
    express = sfn.create_state_machine(name="x", definition=definition, roleArn=PLACEHOLDER_ROLE, type="EXPRESS")
    standard = sfn.create_state_machine(name="s", definition=definition, roleArn=PLACEHOLDER_ROLE)
    for _ in range(2):
        sfn.start_execution(stateMachineArn=express["stateMachineArn"], name="pay-1-start", input="{}")
    runs = sfn.list_executions(stateMachineArn=express["stateMachineArn"])["executions"]
    assert [r["name"] for r in runs] == ["pay-1-start", "pay-1-start"]
    sfn.start_execution(stateMachineArn=standard["stateMachineArn"], name="pay-1-start", input="{}")
    with pytest.raises(ClientError) as refused:
        sfn.start_execution(stateMachineArn=standard["stateMachineArn"], name="pay-1-start", input='{"a": 1}')
    assert refused.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
