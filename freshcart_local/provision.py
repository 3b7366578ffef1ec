"""Create the resources of infra/resources.json against an AWS endpoint (moto locally).

The SAME template is merged into `chalice package`, so local and AWS cannot drift. Only the
resource types the template uses are supported; an unknown type fails loudly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.core import aws

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "resources.json"
ACCOUNT_ID = "123456789012"  # moto's default account
PLACEHOLDER_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/freshcart-local"


# API Gateway pieces: locally, Chalice's gateway plays API Gateway (see freshcart_local/gateway.py).
# Stream mappings: the local dispatcher reads them from the template (``stream_sources``).
SERVED_BY_CHALICE_LOCAL = {"AWS::ApiGateway::GatewayResponse", "AWS::Lambda::EventSourceMapping"}


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template with each state machine's ``{"Fn::Asl": "stepfunctions/x.asl.json"}`` replaced
    by that file's definition: ASL lives in stepfunctions/, the shipped template carries it as a
    ``Definition`` object (so cfn-lint checks the ASL)."""
    template: dict[str, Any] = json.loads(path.read_text())
    for res in template["Resources"].values():
        definition = res.get("Properties", {}).get("Definition")
        if isinstance(definition, dict) and set(definition) == {"Fn::Asl"}:
            res["Properties"]["Definition"] = json.loads((ROOT / definition["Fn::Asl"]).read_text())
    return template


class Provisioner:
    def __init__(self, template: dict[str, Any], stage: str, region: str) -> None:
        self.template = template
        defaults = {k: str(v["Default"]) for k, v in template.get("Parameters", {}).items() if "Default" in v}
        pseudo = {"AWS::Region": region, "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": "aws"}
        self.params = {**defaults, "Stage": stage, **pseudo}
        self.region = region
        self.refs: dict[str, str] = {}
        self.attrs: dict[tuple[str, str], str] = {}

    # -- intrinsic functions ------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            name = value["Ref"]
            return self.params.get(name) or self.refs[name]
        if "Fn::GetAtt" in value:
            res, attr = value["Fn::GetAtt"]
            return self.attrs[(res, attr)]
        if "Fn::Sub" in value:
            text, extra = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
            extra = {k: self.resolve(v) for k, v in extra.items()}

            def sub(m: re.Match[str]) -> str:
                key = m.group(1)
                if key in extra:
                    return str(extra[key])
                if "." in key:
                    res, attr = key.split(".", 1)
                    return self.attrs[(res, attr)]
                return str(self.params.get(key) or self.refs[key])

            return re.sub(r"\$\{([^}!]+)\}", sub, text)
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(str(p) for p in self.resolve(parts))
        return {k: self.resolve(v) for k, v in value.items()}

    # -- resources ------------------------------------------------------------------------
    def apply(self) -> dict[str, str]:
        """Create every typed resource in dependency order; return the environment variables
        that the template's Globals give each function."""
        pending = {
            n: r
            for n, r in self.template["Resources"].items()
            if "Type" in r and r["Type"] not in SERVED_BY_CHALICE_LOCAL
        }
        handlers: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "AWS::DynamoDB::Table": self._table,
            "AWS::SNS::Topic": self._topic,
            "AWS::SQS::Queue": self._queue,
            "AWS::SQS::QueuePolicy": lambda n, p: None,  # moto does not enforce queue policies
            "AWS::SNS::Subscription": self._subscription,
            "AWS::S3::Bucket": self._bucket,
            "AWS::KinesisFirehose::DeliveryStream": self._delivery_stream,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::StepFunctions::StateMachine": self._state_machine,
            "AWS::IAM::Role": self._role,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::CloudWatch::Alarm": self._alarm,
        }
        while pending:
            progressed = False
            for name, res in list(pending.items()):
                try:
                    props = self.resolve(res.get("Properties", {}))
                except KeyError:
                    continue  # depends on something not created yet
                handler = handlers.get(res["Type"])
                if handler is None:
                    raise RuntimeError(f"local stack cannot create {name}: type {res['Type']} unsupported")
                handler(name, props)
                del pending[name]
                progressed = True
            if not progressed:
                raise RuntimeError(f"unresolvable references among: {sorted(pending)}")
        variables = self.template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        return {k: str(self.resolve(v)) for k, v in variables.items()}

    def _table(self, name: str, p: dict[str, Any]) -> None:
        ddb = aws.client("dynamodb")
        args: dict[str, Any] = {
            k: p[k] for k in ("TableName", "AttributeDefinitions", "KeySchema", "BillingMode") if k in p
        }
        if "GlobalSecondaryIndexes" in p:
            args["GlobalSecondaryIndexes"] = p["GlobalSecondaryIndexes"]
        if "StreamSpecification" in p:
            args["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
        if p.get("SSESpecification", {}).get("SSEEnabled"):
            args["SSESpecification"] = {"Enabled": True}
        desc = ddb.create_table(**args)["TableDescription"]
        arn = desc["TableArn"]
        if "LatestStreamArn" in desc:
            self.attrs[(name, "StreamArn")] = desc["LatestStreamArn"]
        if "TimeToLiveSpecification" in p:
            ddb.update_time_to_live(TableName=p["TableName"], TimeToLiveSpecification=p["TimeToLiveSpecification"])
        self.refs[name] = p["TableName"]
        self.attrs[(name, "Arn")] = arn

    def _topic(self, name: str, p: dict[str, Any]) -> None:
        arn = aws.client("sns").create_topic(Name=p["TopicName"])["TopicArn"]
        self.refs[name] = arn
        self.attrs[(name, "TopicArn")] = arn
        self.attrs[(name, "TopicName")] = p["TopicName"]

    def _queue(self, name: str, p: dict[str, Any]) -> None:
        sqs = aws.client("sqs")
        attributes: dict[str, str] = {}
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds"):
            if key in p:
                attributes[key] = str(p[key])
        if "RedrivePolicy" in p:
            attributes["RedrivePolicy"] = json.dumps(p["RedrivePolicy"])
        url = sqs.create_queue(QueueName=p["QueueName"], Attributes=attributes)["QueueUrl"]
        self.refs[name] = url
        self.attrs[(name, "QueueUrl")] = url
        self.attrs[(name, "QueueName")] = p["QueueName"]
        self.attrs[(name, "Arn")] = f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{p['QueueName']}"

    def _subscription(self, name: str, p: dict[str, Any]) -> None:
        attributes = {"RawMessageDelivery": "true"} if p.get("RawMessageDelivery") else {}
        if "FilterPolicy" in p:
            attributes["FilterPolicy"] = json.dumps(p["FilterPolicy"])
        arn = aws.client("sns").subscribe(
            TopicArn=p["TopicArn"], Protocol=p["Protocol"], Endpoint=p["Endpoint"], Attributes=attributes
        )["SubscriptionArn"]
        self.refs[name] = arn

    def _bucket(self, name: str, p: dict[str, Any]) -> None:
        s3 = aws.client("s3")
        args: dict[str, Any] = {"Bucket": p["BucketName"]}
        if self.region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        s3.create_bucket(**args)
        bucket = p["BucketName"]
        if "BucketEncryption" in p:
            s3.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]}
                        for r in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                    ]
                },
            )
        if "PublicAccessBlockConfiguration" in p:
            block = p["PublicAccessBlockConfiguration"]
            s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=block)
        if "LifecycleConfiguration" in p:
            rules = [
                {
                    "ID": r["Id"],
                    "Status": r["Status"],
                    "Filter": {"Prefix": r.get("Prefix", "")},
                    "Transitions": [
                        {"Days": int(x["TransitionInDays"]), "StorageClass": x["StorageClass"]}
                        for x in r["Transitions"]
                    ],
                }
                for r in p["LifecycleConfiguration"]["Rules"]
            ]
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket,
                LifecycleConfiguration={"Rules": rules},
                TransitionDefaultMinimumObjectSize=p["LifecycleConfiguration"].get(
                    "TransitionDefaultMinimumObjectSize", "all_storage_classes_128K"
                ),
            )
        self.refs[name] = bucket
        self.attrs[(name, "Arn")] = f"arn:aws:s3:::{p['BucketName']}"

    def _delivery_stream(self, name: str, p: dict[str, Any]) -> None:
        """Moto writes each record batch to S3 at once (no buffering), under the same
        ``<Prefix>YYYY/MM/DD/HH/`` keys as Firehose with a plain prefix."""
        dest = p["ExtendedS3DestinationConfiguration"]
        keys = ("BucketARN", "RoleARN", "Prefix", "ErrorOutputPrefix", "BufferingHints", "CompressionFormat")
        arn = aws.client("firehose").create_delivery_stream(
            DeliveryStreamName=p["DeliveryStreamName"],
            DeliveryStreamType=p.get("DeliveryStreamType", "DirectPut"),
            ExtendedS3DestinationConfiguration={k: dest[k] for k in keys if k in dest},
        )["DeliveryStreamARN"]
        self.refs[name] = p["DeliveryStreamName"]
        self.attrs[(name, "Arn")] = arn

    def _alarm(self, name: str, p: dict[str, Any]) -> None:
        keys = (
            "AlarmName",
            "AlarmDescription",
            "Namespace",
            "MetricName",
            "Dimensions",
            "Statistic",
            "Period",
            "EvaluationPeriods",
            "Threshold",
            "ComparisonOperator",
            "TreatMissingData",
            "AlarmActions",
        )
        aws.client("cloudwatch").put_metric_alarm(**{k: p[k] for k in keys if k in p})
        self.refs[name] = p["AlarmName"]

    def _secret(self, name: str, p: dict[str, Any]) -> None:
        import secrets

        length = int(p.get("GenerateSecretString", {}).get("PasswordLength", 64))
        value = p.get("SecretString") or secrets.token_urlsafe(length)[:length]
        arn = aws.client("secretsmanager").create_secret(Name=p["Name"], SecretString=value)["ARN"]
        self.refs[name] = arn

    def _role(self, name: str, p: dict[str, Any]) -> None:
        self.refs[name] = p.get("RoleName", name)
        self.attrs[(name, "Arn")] = PLACEHOLDER_ROLE

    def _log_group(self, name: str, p: dict[str, Any]) -> None:
        group = p["LogGroupName"]
        self.refs[name] = group
        self.attrs[(name, "Arn")] = f"arn:aws:logs:{self.region}:{ACCOUNT_ID}:log-group:{group}:*"

    def _state_machine(self, name: str, p: dict[str, Any]) -> None:
        definition = p.get("Definition")
        text = json.dumps(definition) if definition is not None else p["DefinitionString"]
        for key, value in (p.get("DefinitionSubstitutions") or {}).items():
            text = text.replace("${" + key + "}", str(value))
        ensure_lambda_functions(lambda_names_in(text))
        arn = aws.client("stepfunctions").create_state_machine(
            name=p["StateMachineName"],
            definition=text,
            roleArn=PLACEHOLDER_ROLE,
            type=p.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        self.refs[name] = arn
        self.attrs[(name, "Arn")] = arn
        self.attrs[(name, "Name")] = p["StateMachineName"]


def lambda_names_in(definition: str) -> set[str]:
    """Function names a state machine invokes (ARNs or plain names in FunctionName/Resource)."""
    names = set(re.findall(r"arn:aws:lambda:[^:\"]+:\d+:function:([A-Za-z0-9_-]+)", definition))
    for match in re.findall(r"\"FunctionName\"\s*:\s*\"([A-Za-z0-9_-]+)\"", definition):
        names.add(match)
    return names


def ensure_role() -> None:
    """The placeholder role moto checks when functions and state machines are created."""
    iam = aws.client("iam")
    try:
        iam.get_role(RoleName="freshcart-local")
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                }
            ],
        }
        iam.create_role(RoleName="freshcart-local", AssumeRolePolicyDocument=json.dumps(trust))


def ensure_lambda_functions(names: set[str]) -> None:
    """Moto needs a function to exist before a state machine can invoke it; the invoke itself
    is routed to the app in-process (see freshcart_local/lambdas.py)."""
    import io
    import zipfile

    if not names:
        return
    ensure_role()
    lam = aws.client("lambda")
    existing = {f["FunctionName"] for f in lam.list_functions().get("Functions", [])}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
    for fn in sorted(names - existing):
        lam.create_function(
            FunctionName=fn,
            Runtime="python3.11",
            Role=PLACEHOLDER_ROLE,
            Handler="handler.handler",
            Code={"ZipFile": buf.getvalue()},
        )


def handler_name(logical_id: str) -> str:
    """Chalice names a function's resource in CamelCase: OrderStream <- order_stream."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", logical_id).lower()


def stream_sources(stage: str, region: str, template: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The template's DynamoDB stream mappings as {table, handler, batch_size, retries}."""
    t = template or load_template()
    p = Provisioner(t, stage, region)
    out = []
    for res in t["Resources"].values():
        if res.get("Type") != "AWS::Lambda::EventSourceMapping":
            continue
        props = res["Properties"]
        table_id = props["EventSourceArn"]["Fn::GetAtt"][0]
        out.append(
            {
                "table": p.resolve(t["Resources"][table_id]["Properties"]["TableName"]),
                "handler": handler_name(props["FunctionName"]["Ref"]),
                "batch_size": int(props.get("BatchSize", 100)),
                "retries": int(props.get("MaximumRetryAttempts", 3)),
            }
        )
    return out


# Push: SNS platform applications hold FCM / APNs credentials, which no template can (they are
# secrets of the app's developer accounts); on AWS they are made once by hand and named to the
# stage (PUSH_*_APPLICATION_ARN). The local stack makes stand-ins, whose endpoints keep what was sent.
PUSH_APPLICATIONS = {"android": "GCM", "ios": "APNS_SANDBOX"}


def push_application_arn(platform: str, stage: str, region: str) -> str:
    return f"arn:aws:sns:{region}:{ACCOUNT_ID}:app/{PUSH_APPLICATIONS[platform]}/freshcart-{stage}-{platform}"


def provision(stage: str, region: str, template: dict[str, Any] | None = None) -> dict[str, str]:
    env = Provisioner(template or load_template(), stage, region).apply()
    sns = aws.client("sns")
    for platform, kind in PUSH_APPLICATIONS.items():
        sns.create_platform_application(
            Name=f"freshcart-{stage}-{platform}", Platform=kind, Attributes={"PlatformCredential": "local"}
        )
        env[f"PUSH_{platform.upper()}_APPLICATION_ARN"] = push_application_arn(platform, stage, region)
    return env
