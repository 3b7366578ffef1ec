"""Deploy what `chalice deploy` does not make, with boto3 only (no AWS CLI): `make infra STAGE=...`.

Reads the documents infra/infra_template.py wrote and:

1. creates or updates the CloudFormation stack ``freshcart-<stage>-infra``: the ``infra`` template,
   or, once the functions it attaches to exist (after `chalice deploy`), the ``wired`` one;
2. once the functions exist, gives the event sources Chalice made the settings the merge
   fragments give them on the `make deploy` road (``FunctionResponseTypes`` ...);
3. once `chalice deploy` has recorded the REST API (.chalice/deployed/<stage>.json), puts the
   template's resources on it (gateway responses) and redeploys the API stage.

Every step is idempotent: run it before `chalice deploy` and again after (``make chalice-deploy``
does both). boto3 honours ``AWS_ENDPOINT_URL``, so the same command rehearses against moto.

Usage: python infra/deploy_infra.py STAGE BUILDDIR [--project-dir DIR] [--bucket BUCKET]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError, WaiterError

ROOT = Path(__file__).resolve().parent.parent
MAX_TEMPLATE_BODY = 51_200  # CloudFormation's limit for TemplateBody; larger ones go through S3
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]


def stack_name(stage: str) -> str:
    return f"freshcart-{stage}-infra"


def missing_functions(session: Any, names: list[str]) -> list[str]:
    lam = session.client("lambda")
    missing = []
    for name in names:
        try:
            lam.get_function(FunctionName=name)
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            missing.append(name)
    return missing


def template_bucket(session: Any, stage: str) -> str:
    """A private bucket of this stage's for templates over CloudFormation's body limit, made once:
    ``freshcart-<stage>-templates-<account>``."""
    account = session.client("sts").get_caller_identity()["Account"]
    bucket = f"freshcart-{stage}-templates-{account}"
    s3 = session.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
        return bucket
    except s3.exceptions.ClientError:
        pass
    region = session.region_name or "us-east-1"
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **location)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
        },
    )
    print(f"made {bucket} for templates over {MAX_TEMPLATE_BODY} bytes")
    return bucket


def deploy_stack(session: Any, name: str, template: dict[str, Any], stage: str, bucket: str | None) -> dict[str, str]:
    """Create or update the stack and wait; its outputs."""
    cfn = session.client("cloudformation")
    body = json.dumps(template, separators=(",", ":"))
    source: dict[str, str] = {"TemplateBody": body}
    if len(body) > MAX_TEMPLATE_BODY:
        bucket = bucket or template_bucket(session, stage)
        key = f"{name}/{hashlib.sha256(body.encode()).hexdigest()}.json"
        s3 = session.client("s3")
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
        source = {"TemplateURL": f"https://{bucket}.s3.amazonaws.com/{key}"}
    args = {"StackName": name, "Capabilities": CAPABILITIES, **source}
    args["Parameters"] = [{"ParameterKey": "Stage", "ParameterValue": stage}]
    status = _status(cfn, name)
    if status == "ROLLBACK_COMPLETE":  # a first create that failed: nothing to keep
        print(f"{name}: deleting the stack a failed first create left ({status})")
        cfn.delete_stack(StackName=name)
        cfn.get_waiter("stack_delete_complete").wait(StackName=name)
        status = None
    try:
        if status is None:
            print(f"{name}: creating")
            cfn.create_stack(**args)
            waiter = "stack_create_complete"
        else:
            print(f"{name}: updating ({status})")
            cfn.update_stack(**args)
            waiter = "stack_update_complete"
    except ClientError as e:
        if "No updates are to be performed" not in str(e):
            raise
        print(f"{name}: up to date")
    else:
        try:
            cfn.get_waiter(waiter).wait(StackName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 360})
        except WaiterError:
            _report_failure(cfn, name)
            raise SystemExit(f"{name}: {waiter.replace('_', ' ')} failed") from None
    (stack,) = cfn.describe_stacks(StackName=name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _status(cfn: Any, name: str) -> str | None:
    try:
        (stack,) = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as e:
        if "does not exist" in str(e):
            return None
        raise
    status: str = stack["StackStatus"]
    return status


def _report_failure(cfn: Any, name: str) -> None:
    for event in cfn.describe_stack_events(StackName=name)["StackEvents"][:30]:
        if event["ResourceStatus"].endswith("FAILED"):
            print(f"  {event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}", file=sys.stderr)


def configure_event_sources(session: Any, settings: dict[str, dict[str, dict[str, Any]]]) -> None:
    """The merge fragments' ``Events.<X>SqsEventSource.Properties`` on the mappings Chalice made:
    a fragment's event named ``...Sqs...`` applies to the function's SQS mappings, and so on."""
    lam = session.client("lambda")
    # All mappings, matched on FunctionArn here: filtering the listing by FunctionName is fine on
    # AWS, but moto 5.2.5 compares it with the string the mapping was created with (an ARN).
    pages = lam.get_paginator("list_event_source_mappings").paginate()
    everything = [m for page in pages for m in page["EventSourceMappings"]]
    for function, events in settings.items():
        mappings = [m for m in everything if m["FunctionArn"].split(":")[6] == function]
        for event, props in events.items():
            for mapping in mappings:
                service = mapping["EventSourceArn"].split(":")[2]
                if service not in event.lower() or not props:
                    continue
                if all(mapping.get(k) == v for k, v in props.items()):
                    continue
                lam.update_event_source_mapping(UUID=mapping["UUID"], **props)
                print(f"{function}: {service} event source set {sorted(props)}")


def apply_api_resources(session: Any, resources: dict[str, Any], rest_api_id: str, api_stage: str) -> None:
    """Gateway responses, which `chalice deploy`'s overwrite of the API would drop from a stack."""
    if not resources:
        return
    apigw = session.client("apigateway")
    for name, res in resources.items():
        if res["Type"] != "AWS::ApiGateway::GatewayResponse":
            raise SystemExit(f"{name}: {res['Type']} on the REST API is not carried on the chalice deploy road")
        props = {k[0].lower() + k[1:]: v for k, v in res["Properties"].items()}
        if props.pop("restApiId") != {"Ref": "RestAPI"}:
            raise SystemExit(f"{name}: RestApiId must be {{'Ref': 'RestAPI'}}")
        apigw.put_gateway_response(restApiId=rest_api_id, **props)
    apigw.create_deployment(restApiId=rest_api_id, stageName=api_stage, description="freshcart gateway responses")
    print(f"REST API {rest_api_id}: {len(resources)} gateway responses, stage {api_stage} redeployed")


def deployed_rest_api(project_dir: Path, stage: str) -> str | None:
    """The REST API `chalice deploy` recorded for the stage, if it ran from this project."""
    path = project_dir / ".chalice" / "deployed" / f"{stage}.json"
    if not path.exists():
        return None
    for res in json.loads(path.read_text()).get("resources", []):
        if res.get("resource_type") == "rest_api":
            return str(res["rest_api_id"])
    return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage")
    parser.add_argument("build_dir", type=Path)
    parser.add_argument("--project-dir", type=Path, default=ROOT)
    parser.add_argument(
        "--bucket", default=None, help="S3 bucket for a template over 51,200 bytes (default: one made for the stage)"
    )
    args = parser.parse_args(argv)
    after = json.loads((args.build_dir / "after_chalice.json").read_text())
    session = boto3.session.Session()

    missing = missing_functions(session, after["functions_needed"])
    template = "wired" if not missing else "infra"
    doc = json.loads((args.build_dir / f"{template}.json").read_text())
    outputs = deploy_stack(session, stack_name(args.stage), doc, args.stage, args.bucket)
    for key, value in sorted(outputs.items()):
        print(f"  {key}: {value}")
    if missing:
        print(
            f"not yet wired (no functions yet: {', '.join(missing)}): {', '.join(after['wired'])}; "
            f"after `chalice deploy --stage {args.stage}`, run `make infra STAGE={args.stage}` again"
        )
        return 0
    configure_event_sources(session, after["event_sources"])
    rest_api_id = deployed_rest_api(args.project_dir, args.stage)
    if rest_api_id is None:
        if after["api_resources"]:
            print(f"no .chalice/deployed/{args.stage}.json here: gateway responses not applied (run where you deploy)")
    else:
        apply_api_resources(session, after["api_resources"], rest_api_id, after["api_gateway_stage"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
