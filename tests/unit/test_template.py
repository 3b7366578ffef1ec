"""The one resource template: safe defaults everywhere, and policies without wildcards."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = json.loads((ROOT / "infra" / "resources.json").read_text())
RESOURCES = TEMPLATE["Resources"]


def of_type(kind: str) -> dict:
    return {n: r for n, r in RESOURCES.items() if r.get("Type") == kind}


def test_tables_have_pitr_sse_and_on_demand() -> None:
    tables = of_type("AWS::DynamoDB::Table")
    assert {"UsersTable", "AuditTable"} <= set(tables)
    for name, t in tables.items():
        p = t["Properties"]
        assert p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        assert p["SSESpecification"]["SSEEnabled"] is True, name
        assert t["DeletionPolicy"] == "Retain", name


def test_audit_rows_expire() -> None:
    assert RESOURCES["AuditTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expiresAt",
        "Enabled": True,
    }


def test_the_money_records_follow_the_rules() -> None:
    """Seed 001: transactions with a merchant index, PITR and no TTL; the archive encrypted,
    private, in Glacier after 30 days; the failed-transactions DLQ alarmed."""
    tx = RESOURCES["TransactionsTable"]["Properties"]
    assert "TimeToLiveSpecification" not in tx
    assert {i["IndexName"] for i in tx["GlobalSecondaryIndexes"]} >= {"byMerchant", "byDay"}
    bucket = RESOURCES["ArchiveBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Prefix"] == "transactions/" and rule["Status"] == "Enabled"
    assert rule["Transitions"] == [{"StorageClass": "GLACIER", "TransitionInDays": 30}]
    # S3's default since 2024 keeps objects under 128 KB out of every transition: without this
    # a quiet day's archive objects would never reach Glacier
    assert bucket["LifecycleConfiguration"]["TransitionDefaultMinimumObjectSize"] == "varies_by_storage_class"
    stream = RESOURCES["ArchiveStream"]["Properties"]  # records are batched, not one PUT each
    s3 = stream["ExtendedS3DestinationConfiguration"]
    assert s3["BucketARN"] == {"Fn::GetAtt": ["ArchiveBucket", "Arn"]} and s3["Prefix"] == rule["Prefix"]
    assert stream["DeliveryStreamEncryptionConfigurationInput"]["KeyType"] == "AWS_OWNED_CMK"
    alarm = RESOURCES["FailedTransactionsDLQAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["FailedTransactionsQueueDLQ", "QueueName"]}
    assert alarm["Threshold"] == 0 and alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]
    queue = RESOURCES["FailedTransactionsQueue"]["Properties"]
    assert queue["VisibilityTimeout"] == 300 and queue["RedrivePolicy"]["maxReceiveCount"] == 3
    assert RESOURCES["FailedTransactionsQueueDLQ"]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_every_work_queue_has_a_dead_letter_queue() -> None:
    queues = of_type("AWS::SQS::Queue")
    work = {n: q for n, q in queues.items() if not n.endswith("DLQ")}
    assert work
    for name, q in work.items():
        redrive = q["Properties"]["RedrivePolicy"]
        assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [name + "DLQ", "Arn"]}
        assert 1 < redrive["maxReceiveCount"] <= 10


def test_sqs_handlers_report_batch_item_failures() -> None:
    from chalice.app import SQSEventConfig

    from app import app

    for cfg in app.event_sources:
        if isinstance(cfg, SQSEventConfig):
            cfn = "".join(part.capitalize() for part in cfg.name.split("_"))
            events = RESOURCES[cfn]["Properties"]["Events"]
            props = events[f"{cfn}SqsEventSource"]["Properties"]
            assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


# Actions IAM cannot scope to a resource: reading metrics, sending traces.
UNSCOPED = {"cloudwatch:GetMetricData", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_policies_have_no_wildcard_action_or_resource() -> None:
    for stage in ("local", "dev", "prod"):
        policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
        for st in policy["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            assert "*" not in actions and not any(a.endswith(":*") for a in actions), st
            if set(actions) <= {"states:SendTaskSuccess", "states:SendTaskFailure"} | UNSCOPED:
                assert resources == ["*"], st  # these calls have no resource type in IAM
                continue
            assert "*" not in resources, st
            assert all(
                f"freshcart-{stage}" in r or f"freshcart/{stage}" in r or r.endswith("identity/*") or "log-group" in r
                for r in resources
            ), st


def test_stages_name_every_resource() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["autogen_policy"] is False
    for stage in ("local", "dev", "prod"):
        env = config["stages"][stage]["environment_variables"]
        for key in (
            "USERS_TABLE",
            "AUDIT_TABLE",
            "RATELIMIT_TABLE",
            "IDEMPOTENCY_TABLE",
            "NOTIFICATIONS_QUEUE",
            "JWT_SECRET_ID",
        ):
            assert env[key].startswith(f"freshcart-{stage}") or env[key].startswith(f"freshcart/{stage}")


def test_packaged_functions_have_the_names_the_state_machines_call() -> None:
    """`chalice package` gives functions no FunctionName (CloudFormation would invent one); the
    merge template names each as Chalice does, which is what the state machines invoke."""
    import re

    from infra.for_stage import merge_template

    template = merge_template("dev")
    named = {
        r["Properties"]["FunctionName"]["Fn::Sub"]
        for r in template["Resources"].values()
        if "Type" not in r and "FunctionName" in r.get("Properties", {})  # merged into Chalice's
    }
    assert "freshcart-${Stage}" in named and "freshcart-${Stage}-checkout_charge" in named
    called = set(re.findall(r"function:(freshcart-\$\{Stage\}-[a-z_]*[a-z])(?![a-z_*])", json.dumps(template)))
    assert called and called <= named, called - named


def test_the_packaged_template_emails_every_alert_to_the_stage_parameter() -> None:
    """Issue 20: on AWS an alert must reach somebody, so the alerts topic has an email subscriber,
    the NotificationEmail parameter, in what `make package` merges. The failed-transactions DLQ
    alarm notifies that topic too."""
    from infra.for_stage import merge_template

    template = merge_template("prod")
    subs = [r["Properties"] for r in template["Resources"].values() if r.get("Type") == "AWS::SNS::Subscription"]
    assert {"TopicArn": {"Ref": "AlertsTopic"}, "Protocol": "email", "Endpoint": {"Ref": "NotificationEmail"}} in subs
    assert template["Parameters"]["NotificationEmail"]["Type"] == "String"
    alarm = template["Resources"]["FailedTransactionsDLQAlarm"]["Properties"]
    assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]
