"""Canaries of the `chalice deploy` rehearsal's moto patches (tests/e2e/test_deploy.py,
tests/e2e/moto_cfn.py): each fails once moto does the thing itself, and the patch can go. Kept in
a module of their own so they see moto unpatched."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

REGION = "us-east-1"


def test_moto_cloudformation_still_lacks_what_moto_cfn_adds() -> None:
    from moto.cloudformation.parsing import get_model_map

    assert "AWS::SecretsManager::Secret" not in get_model_map()
    assert "AWS::SNS::Subscription" not in get_model_map()


def test_moto_still_cannot_import_a_chalice_api() -> None:
    """The canary of ``_chalice_api_import``: when this fails, moto imports Swagger 2.0 without a
    description itself, and the patch can go."""
    doc = {"swagger": "2.0", "info": {"version": "1.0", "title": "canary"}, "paths": {"/": {"get": {}}}}
    with mock_aws():
        apigw = boto3.client("apigateway", region_name=REGION)
        with pytest.raises(Exception):
            apigw.import_rest_api(body=json.dumps(doc).encode())


def test_moto_cloudformation_still_ignores_a_definition_object() -> None:
    template = {
        "Resources": {
            "M": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": "canary",
                    "RoleArn": "arn:aws:iam::123456789012:role/x",
                    "Definition": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                },
            }
        }
    }
    with mock_aws():
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName="c", TemplateBody=json.dumps(template)
        )
        sfn = boto3.client("stepfunctions", region_name=REGION)
        (machine,) = sfn.list_state_machines()["stateMachines"]
        assert sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])["definition"] == ""
