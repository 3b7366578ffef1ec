"""The `chalice deploy` road, rehearsed against moto: `make chalice-deploy STAGE=dev` (the resources'
stack, `chalice deploy --stage dev`, the stack again to wire the stream mappings) as a subprocess
talking to a moto server through AWS_ENDPOINT_URL; then boto3 checks that what was deployed names
real things.

The project is copied to a temporary directory first, so `.chalice/deployed/dev.json` and build/
never land in the checkout. Its `.chalice/deployments` (the zips Chalice builds, git-ignored, keyed
by a hash of requirements.txt and the app's files) is the checkout's own, so an unchanged app is not
packaged again; a changed one costs a pip download of the manylinux wheels (pip caches them).

moto 5.2.5 cannot import the REST API Chalice generates (see ``_chalice_api_import``), and its
CloudFormation skips secrets and subscriptions (moto_cfn.py); these are the rehearsal's only
patches, and the canaries at the end say when they can go.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.apigateway.models import APIGatewayBackend
from moto.server import ThreadedMotoServer

from tests.e2e import moto_cfn
from tests.e2e.harness import ROOT, clean_env, free_port

pytestmark = pytest.mark.e2e
STAGE = "dev"
REGION = "us-east-1"
KINDS = {"_table", "_queue", "_topic_arn", "_state_machine_arn", "_secret_id", "_bucket"}
LAMBDA_ARN = re.compile(r"arn:aws:lambda:[\w-]+:\d{12}:function:([\w-]+)")


def _chalice_api_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2.5's ImportRestApi/PutRestApi (moto/apigateway/models.py) fail on what `chalice
    deploy` sends, which AWS accepts: ``import_rest_api`` reads ``api_doc["info"]["description"]``
    (KeyError -> 500; Chalice's Swagger has no description) and ``put_rest_api`` refuses any
    ``"swagger": "2.0"`` document (Chalice's format). The importer below those gates reads only
    ``paths`` and ``x-amazon-apigateway-integration``, the same in Swagger 2.0 and OpenAPI 3, so
    the patch defaults the description and lets a Swagger 2.0 document through. Nothing else:
    the routes and integrations checked below are what moto's own importer made of Chalice's
    document (the authorizer in ``securityDefinitions`` is not imported by moto, and not checked)."""
    original_import, original_put = APIGatewayBackend.import_rest_api, APIGatewayBackend.put_rest_api

    def import_rest_api(self: Any, api_doc: dict[str, Any], fail_on_warnings: bool) -> Any:
        api_doc = {**api_doc, "info": {"description": "", **api_doc.get("info", {})}}
        return original_import(self, api_doc, fail_on_warnings)

    def put_rest_api(
        self: Any, function_id: str, api_doc: dict[str, Any], fail_on_warnings: bool, mode: str = "merge"
    ) -> Any:
        if api_doc.get("swagger") == "2.0":
            api_doc = {k: v for k, v in api_doc.items() if k != "swagger"}
        return original_put(self, function_id, api_doc, fail_on_warnings, mode)

    monkeypatch.setattr(APIGatewayBackend, "import_rest_api", import_rest_api)
    monkeypatch.setattr(APIGatewayBackend, "put_rest_api", put_rest_api)


def _copy_project(dest: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file() and not rel.startswith("build/"):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    cache = ROOT / ".chalice" / "deployments"
    cache.mkdir(exist_ok=True)
    (dest / ".chalice" / "deployments").symlink_to(cache)


def _run(args: list[str], cwd: Path, env: dict[str, str], log: list[str]) -> str:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    log.append(f"$ {' '.join(args)}  ({time.perf_counter() - started:.1f}s)\n{done.stdout}{done.stderr}")
    assert done.returncode == 0, "\n".join(log)
    return done.stdout


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    monkeypatch = pytest.MonkeyPatch()
    _chalice_api_import(monkeypatch)
    moto_cfn.install()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    project = tmp_path_factory.mktemp("deploy") / "freshcart"
    project.mkdir()
    git_before = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    try:
        _copy_project(project)
        endpoint = f"http://127.0.0.1:{port}"
        env = {
            **clean_env(),
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }
        log: list[str] = []
        started = time.perf_counter()
        # -o: the venv is the checkout's (symlinked); never rebuild it from here.
        make = ["make", "-o", ".venv/bin/.installed", f"STAGE={STAGE}"]
        out = _run([*make, "chalice-deploy"], project, env, log)  # what a user runs: one command
        first, chalice_deploy, second = out.partition(f".venv/bin/chalice deploy --stage {STAGE}\n")
        assert chalice_deploy, out  # make echoed the chalice step between the two infra passes
        took = time.perf_counter() - started
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        build = project / "build" / f"infra-{STAGE}"
        yield {
            "endpoint": endpoint,
            "env": env,
            "project": project,
            "client": lambda service: session.client(service, endpoint_url=endpoint),
            "after": json.loads((build / "after_chalice.json").read_text()),
            "wired": json.loads((build / "wired.json").read_text()),
            "first": first,
            "second": second,
            "log": log,
            "seconds": took,
        }
    finally:
        server.stop()
        monkeypatch.undo()
        moto_cfn.uninstall()
    git_after = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    assert git_after == git_before, "the rehearsal changed the checkout"


def _exists(client: Any, call: str, **kwargs: Any) -> bool:
    try:
        getattr(client, call)(**kwargs)
    except ClientError:
        return False
    return True


def test_infra_first_then_functions_then_wiring(deployed: dict[str, Any]) -> None:
    print(f"rehearsal (make chalice-deploy): {deployed['seconds']:.1f}s")
    assert "not yet wired" in deployed["first"]
    assert "not yet wired" not in deployed["second"]
    stack = deployed["client"]("cloudformation").describe_stacks(StackName=f"freshcart-{STAGE}-infra")["Stacks"][0]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    resources = deployed["client"]("cloudformation").list_stack_resources(StackName=f"freshcart-{STAGE}-infra")
    in_stack = {r["LogicalResourceId"] for r in resources["StackResourceSummaries"]} - {""}
    template = deployed["wired"]["Resources"]
    skipped = {n for n, r in template.items() if r["Type"] in moto_cfn.UNSUPPORTED_HERE}
    assert in_stack == set(template) - skipped


def test_every_function_exists_and_its_environment_names_real_resources(deployed: dict[str, Any]) -> None:
    lam = deployed["client"]("lambda")
    functions = {f["FunctionName"]: f for f in lam.list_functions()["Functions"]}
    assert set(deployed["after"]["functions"].values()) <= set(functions)
    by_env: dict[str, list[str]] = {}  # one settings process per distinct environment, not per function
    for name in deployed["after"]["functions"].values():
        env = functions[name].get("Environment", {}).get("Variables", {})
        assert env.get("FRESHCART_STAGE") == STAGE, name
        by_env.setdefault(json.dumps(env, sort_keys=True), []).append(name)
    for env_text, names in by_env.items():
        named = _named_resources(_resolved_settings(deployed, json.loads(env_text)))
        _assert_all_exist(deployed, named, ", ".join(names))


def _resolved_settings(deployed: dict[str, Any], function_env: dict[str, str]) -> dict[str, str]:
    """What the app, given the function's environment, names: run in a process of its own (as a
    Lambda would), against moto, so its STS call for the conventional ARNs is moto's too."""
    code = (
        "import dataclasses, json; from chalicelib.core import config; s = config.get_settings();"
        "d = dataclasses.asdict(s); d.update({k: getattr(s, k) for k in dir(type(s))"
        " if isinstance(getattr(type(s), k), config.cached_property)}); print(json.dumps(d))"
    )
    env = {**deployed["env"], **function_env}
    out = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", code],
        cwd=deployed["project"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    settings: dict[str, str] = json.loads(out)
    return settings


def _named_resources(settings: dict[str, Any]) -> dict[str, str]:
    return {
        k: v
        for k, v in settings.items()
        if isinstance(v, str)
        and k.endswith(("_table", "_queue", "_topic_arn", "_state_machine_arn", "_secret_id", "_bucket"))
    }


def _assert_all_exist(deployed: dict[str, Any], named: dict[str, str], who: str) -> None:
    c = deployed["client"]
    assert {k for k in KINDS if any(n.endswith(k) for n in named)} == KINDS, named
    for key, value in named.items():
        assert value, f"{who}: {key} is empty"
        if key.endswith("_table"):
            ok = _exists(c("dynamodb"), "describe_table", TableName=value)
        elif key.endswith("_queue"):
            ok = _exists(c("sqs"), "get_queue_url", QueueName=value)
        elif key.endswith("_topic_arn"):
            ok = _exists(c("sns"), "get_topic_attributes", TopicArn=value)
        elif key.endswith("_state_machine_arn"):
            ok = _exists(c("stepfunctions"), "describe_state_machine", stateMachineArn=value)
        elif key.endswith("_secret_id"):
            ok = _exists(c("secretsmanager"), "describe_secret", SecretId=value)
        else:
            ok = _exists(c("s3"), "head_bucket", Bucket=value)
        assert ok, f"{who}: {key}={value} does not exist"


def test_the_convention_names_what_the_template_outputs(deployed: dict[str, Any]) -> None:
    """The `make deploy` road sets these from the template's Globals; the chalice road builds them
    by convention: the stack's outputs of those Globals must equal what the app builds."""
    stack = deployed["client"]("cloudformation").describe_stacks(StackName=f"freshcart-{STAGE}-infra")["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    settings = _resolved_settings(deployed, {"FRESHCART_STAGE": STAGE})
    env_outputs = {k: v for k, v in outputs.items() if k.startswith("Env")}
    assert env_outputs
    for key, value in env_outputs.items():
        field = re.sub(r"(?<!^)([A-Z])", r"_\1", key[3:]).lower()
        assert settings[field] == value, key


def test_the_rest_api_has_every_route_and_the_gateway_responses(deployed: dict[str, Any]) -> None:
    from app import app

    apigw = deployed["client"]("apigateway")
    (api,) = [a for a in apigw.get_rest_apis()["items"] if a["name"] == "freshcart"]
    paths = {
        r["path"]: set(r.get("resourceMethods", {}))
        for r in apigw.get_resources(restApiId=api["id"], limit=500)["items"]
    }
    for path, methods in app.routes.items():
        assert path in paths, path
        assert set(methods) <= paths[path], path
    handler = deployed["after"]["functions"]["APIHandler"]
    some = next(iter(app.routes.items()))
    integration = apigw.get_integration(
        restApiId=api["id"],
        resourceId=next(
            r["id"] for r in apigw.get_resources(restApiId=api["id"], limit=500)["items"] if r["path"] == some[0]
        ),
        httpMethod=next(iter(some[1])),
    )
    assert f":function:{handler}/" in integration["uri"]
    assert apigw.get_stage(restApiId=api["id"], stageName="api")
    unauthorized = apigw.get_gateway_response(restApiId=api["id"], responseType="UNAUTHORIZED")
    assert unauthorized["statusCode"] == "401"


def test_the_event_source_mappings_point_at_real_queues_and_streams(deployed: dict[str, Any]) -> None:
    c = deployed["client"]
    lam, sqs, ddb = c("lambda"), c("sqs"), c("dynamodb")
    functions = {f["FunctionArn"] for f in lam.list_functions()["Functions"]}
    mappings = lam.list_event_source_mappings()["EventSourceMappings"]
    streams = {
        t["LatestStreamArn"]
        for name in ddb.list_tables()["TableNames"]
        for t in [ddb.describe_table(TableName=name)["Table"]]
        if "LatestStreamArn" in t
    }
    by_service: dict[str, list[dict[str, Any]]] = {}
    for m in mappings:
        assert m["FunctionArn"] in functions, m
        by_service.setdefault(m["EventSourceArn"].split(":")[2], []).append(m)
        assert m.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], m
    # One SQS mapping per handler Chalice knows, each on an existing queue.
    assert len(by_service["sqs"]) == len(deployed["after"]["event_sources"]) == 5
    for m in by_service["sqs"]:
        assert _exists(sqs, "get_queue_url", QueueName=m["EventSourceArn"].split(":")[5]), m
    # The stream mappings of the template, each on its table's stream.
    wired = [r for r in deployed["wired"]["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert len(by_service["dynamodb"]) == len(wired) == 3
    for m in by_service["dynamodb"]:
        assert m["EventSourceArn"] in streams, m


def test_the_schedules_exist_and_target_their_functions(deployed: dict[str, Any]) -> None:
    from chalice.app import ScheduledEventConfig

    from app import app

    events, lam = deployed["client"]("events"), deployed["client"]("lambda")
    jobs = {e.name: e.schedule_expression for e in app.event_sources if isinstance(e, ScheduledEventConfig)}
    assert jobs
    rules = {r["Name"]: r for r in events.list_rules()["Rules"]}
    for job, expression in jobs.items():
        function = f"freshcart-{STAGE}-{job}"
        matching = [r for r in rules.values() if r["Name"].startswith(function)]
        assert matching, f"no rule for {job}"
        (rule,) = matching
        assert rule["ScheduleExpression"] == (expression if isinstance(expression, str) else expression.to_string())
        (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        assert target["Arn"].endswith(f":function:{function}")
        assert _exists(lam, "get_function", FunctionName=function)


def test_the_state_machines_name_functions_that_exist(deployed: dict[str, Any]) -> None:
    sfn, lam = deployed["client"]("stepfunctions"), deployed["client"]("lambda")
    machines = [m for m in sfn.list_state_machines()["stateMachines"] if m["name"].startswith(f"freshcart-{STAGE}-")]
    assert {m["name"] for m in machines} >= {f"freshcart-{STAGE}-checkout", f"freshcart-{STAGE}-checkout-await"}
    for machine in machines:
        definition = sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])["definition"]
        named = set(LAMBDA_ARN.findall(definition))
        assert named, machine["name"]
        for function in named:
            assert _exists(lam, "get_function", FunctionName=function), f"{machine['name']} names {function}"
        assert "${" not in definition, f"{machine['name']}: an unsubstituted placeholder"
