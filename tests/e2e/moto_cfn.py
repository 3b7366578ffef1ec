"""CloudFormation support moto 5.2.5 lacks, for the `chalice deploy` rehearsal only.

moto's CloudFormation "creates" a resource type it has no model for by warning ("Tried to parse
AWS::SecretsManager::Secret but it's not supported") and making nothing, yet the stack reports
CREATE_COMPLETE. The template's secrets and subscriptions are thereby missing, so the rehearsal
registers the models below, each calling moto's own backend as CloudFormation would call the
service (CreateSecret, Subscribe + SetSubscriptionAttributes, CreateDeliveryStream for the archive's
Firehose stream). Its AWS::StepFunctions::StateMachine
reads only ``DefinitionString`` (a ``Definition`` object, which cfn-lint checks, and
``DefinitionSubstitutions`` are ignored: the machine is made with an empty definition), so the
wrapper below renders them into ``DefinitionString`` as CloudFormation does. AWS::SQS::QueuePolicy and
AWS::CloudWatch::Alarm stay unsupported (nothing in the functions' environment names them); the
rehearsal lists them as moto's remaining gaps. ``uninstall`` removes the models again.
"""

from __future__ import annotations

import json
from typing import Any

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.firehose.models import firehose_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.sns.models import sns_backends
from moto.stepfunctions.models import StateMachine

UNSUPPORTED_HERE = {"AWS::SQS::QueuePolicy", "AWS::CloudWatch::Alarm"}
_installed: list[type[CloudFormationModel]] = []
_saved: dict[str, Any] = {}


def _rendered(cloudformation_json: Any) -> Any:
    """``Definition`` + ``DefinitionSubstitutions`` -> ``DefinitionString``, as CloudFormation does."""
    props = dict(cloudformation_json.get("Properties", {}))
    if "Definition" in props and "DefinitionString" not in props:
        text = json.dumps(props.pop("Definition"))
        for key, value in props.pop("DefinitionSubstitutions", {}).items():
            text = text.replace("${" + key + "}", str(value))
        props["DefinitionString"] = text
    return {**cloudformation_json, "Properties": props}


class _Created:
    def __init__(self, physical_resource_id: str) -> None:
        self.physical_resource_id = physical_resource_id

    @staticmethod
    def is_created() -> bool:
        return True


class _Stream(_Created):
    def __init__(self, name: str, arn: str) -> None:
        super().__init__(name)
        self.arn = arn

    def get_cfn_attribute(self, attr: str) -> str:
        return self.arn


def install() -> None:
    class Secret(CloudFormationModel):
        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SecretsManager::Secret"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("Id",)

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> _Created:
            backend = secretsmanager_backends[account_id][region_name]
            props = cloudformation_json.get("Properties", {})
            secret = props.get("SecretString")
            generate = props.get("GenerateSecretString")
            if secret is None and generate is not None:
                secret = backend.get_random_password(
                    password_length=int(generate.get("PasswordLength", 32)),
                    exclude_characters=generate.get("ExcludeCharacters", ""),
                    exclude_numbers=bool(generate.get("ExcludeNumbers", False)),
                    exclude_punctuation=bool(generate.get("ExcludePunctuation", False)),
                    exclude_uppercase=bool(generate.get("ExcludeUppercase", False)),
                    exclude_lowercase=bool(generate.get("ExcludeLowercase", False)),
                    include_space=bool(generate.get("IncludeSpace", False)),
                    require_each_included_type=bool(generate.get("RequireEachIncludedType", True)),
                )
                secret = json.loads(secret)["RandomPassword"] if secret.startswith("{") else secret
            created = backend.create_secret(
                name=props.get("Name", resource_name),
                secret_string=secret,
                secret_binary=None,
                description=props.get("Description"),
                tags=props.get("Tags"),
                kms_key_id=props.get("KmsKeyId"),
                client_request_token=None,
                replica_regions=[],
                force_overwrite=False,
            )
            return _Created(json.loads(created)["ARN"] if isinstance(created, str) else created["ARN"])

        @classmethod
        def update_from_cloudformation_json(  # type: ignore[override]
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> Any:
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            return None

        def is_created(self) -> bool:
            return True

    class Subscription(CloudFormationModel):
        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SNS::Subscription"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("Arn",)

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> _Created:
            backend = sns_backends[account_id][region_name]
            props = cloudformation_json["Properties"]
            sub = backend.subscribe(props["TopicArn"], props["Endpoint"], props["Protocol"])
            for key in ("RawMessageDelivery", "FilterPolicy", "RedrivePolicy"):
                if key in props:
                    value = props[key]
                    text = json.dumps(value) if isinstance(value, dict) else str(value).lower()
                    backend.set_subscription_attributes(sub.arn, key, text)
            return _Created(sub.arn)

        @classmethod
        def update_from_cloudformation_json(  # type: ignore[override]
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> Any:
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            return None

        def is_created(self) -> bool:
            return True

    class DeliveryStream(CloudFormationModel):
        @staticmethod
        def cloudformation_name_type() -> str:
            return "DeliveryStreamName"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::KinesisFirehose::DeliveryStream"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("Arn",)

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> _Stream:
            props = cloudformation_json["Properties"]
            name = props.get("DeliveryStreamName", resource_name)
            arn = firehose_backends[account_id][region_name].create_delivery_stream(
                region_name,
                name,
                props.get("DeliveryStreamType", "DirectPut"),
                {},
                props.get("DeliveryStreamEncryptionConfigurationInput", {}),
                {},
                props["ExtendedS3DestinationConfiguration"],
                {},
                {},
                {},
                {},
                {},
                {},
                [],
            )
            return _Stream(name, arn)

        @classmethod
        def update_from_cloudformation_json(  # type: ignore[override]
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> Any:
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            return None

    _installed[:] = [Secret, Subscription, DeliveryStream]
    _clear_caches()
    create = StateMachine.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    update = StateMachine.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    _saved.update(create=StateMachine.__dict__["create_from_cloudformation_json"])
    _saved.update(update=StateMachine.__dict__["update_from_cloudformation_json"])

    def create_machine(cls: Any, name: str, cfn: Any, account_id: str, region_name: str, **kw: Any) -> Any:
        return create(cls, name, _rendered(cfn), account_id, region_name, **kw)

    def update_machine(cls: Any, original: Any, name: str, cfn: Any, account_id: str, region_name: str) -> Any:
        return update(cls, original, name, _rendered(cfn), account_id, region_name)

    StateMachine.create_from_cloudformation_json = classmethod(create_machine)  # type: ignore[method-assign,assignment]
    StateMachine.update_from_cloudformation_json = classmethod(update_machine)  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    """The models stay subclasses until collected; moving them out of moto's lookup is enough."""
    for model in _installed:
        model.cloudformation_type = staticmethod(lambda: "Freshcart::Rehearsal::Removed")  # type: ignore[method-assign]
    _installed.clear()
    _clear_caches()
    if _saved:
        StateMachine.create_from_cloudformation_json = _saved.pop("create")  # type: ignore[method-assign]
        StateMachine.update_from_cloudformation_json = _saved.pop("update")  # type: ignore[method-assign]


def _clear_caches() -> None:
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()  # type: ignore[attr-defined]
