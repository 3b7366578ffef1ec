"""One moto world per test process (per xdist worker): the template provisioned once, the data
cleared after each test.

Provisioning every resource of infra/resources.json took ~0.3 s a test, in ~170 tests. Now the
``aws`` fixture starts moto without resetting it, the first test provisions, and after each test
``clear()`` empties what tests write, in place: DynamoDB items, stream records and transaction
tokens, queued messages, stored objects, published notifications, sent mail, executions, metric
data; the secrets go back to their provisioned versions. What a test may change besides data
(its own queue or table, a deleted one, an alarm's state, a ``mock_aws`` of its own that reset
moto) changes ``fingerprint()``; the next test then gets a freshly provisioned world.

``clear()`` reads and writes moto 5.2.5 internals (pinned in constraints.txt):
tests/integration/test_moto_world.py is the canary, writing to every store through the AWS APIs
and checking through them that ``clear()`` emptied it.
"""

from __future__ import annotations

import copy
from typing import Any

from freshcart_local.provision import provision
from freshcart_local.runtime import ACCOUNT_ID

REGION = "us-east-1"
GLOBAL = "aws"  # moto's region key for global services (S3, IAM)


def _backends() -> dict[str, Any]:
    from moto.awslambda.utils import get_backend as lambda_backend
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.dynamodb.models import dynamodb_backends
    from moto.firehose.models import firehose_backends
    from moto.iam.models import iam_backends
    from moto.logs.models import logs_backends
    from moto.s3.models import s3_backends
    from moto.secretsmanager.models import secretsmanager_backends
    from moto.ses.models import ses_backends
    from moto.sns.models import sns_backends
    from moto.sqs.models import sqs_backends
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    regional = {
        "dynamodb": dynamodb_backends,
        "sqs": sqs_backends,
        "sns": sns_backends,
        "ses": ses_backends,
        "stepfunctions": stepfunctions_parser_backends,  # the executing one (execute_state_machine)
        "secretsmanager": secretsmanager_backends,
        "cloudwatch": cloudwatch_backends,
        "logs": logs_backends,
        "firehose": firehose_backends,
    }
    out = {name: backends[ACCOUNT_ID][REGION] for name, backends in regional.items()}
    out["lambda"] = lambda_backend(ACCOUNT_ID, REGION)  # the Docker-free one, as configured
    out["s3"] = s3_backends[ACCOUNT_ID][GLOBAL]
    out["iam"] = iam_backends[ACCOUNT_ID][GLOBAL]
    return out


def fingerprint() -> tuple[Any, ...]:
    """The world's infrastructure by name (and each alarm's state): equal means no test changed it."""
    b = _backends()
    return (
        sorted(b["dynamodb"].tables),
        sorted(b["sqs"].queues),
        sorted(b["sns"].topics),
        sorted(b["sns"].subscriptions),
        sorted(b["s3"].buckets),
        sorted(sm.arn for sm in b["stepfunctions"].state_machines),
        sorted(dict.keys(b["secretsmanager"].secrets)),
        sorted((a.name, a.state_value) for a in b["cloudwatch"].alarms.values()),
        sorted(b["cloudwatch"].dashboards),
        sorted(b["logs"].groups),
        sorted(fn.function_name for fn in b["lambda"].list_functions()),
        sorted(b["firehose"].delivery_streams),
        sorted(b["iam"].roles),
    )


class World:
    def __init__(self) -> None:
        self.env: dict[str, str] | None = None
        self.shape: tuple[Any, ...] | None = None
        self.secrets: dict[str, Any] = {}
        self.builds = 0

    def ready(self) -> dict[str, str]:
        """The provisioned world's environment; provisioned again if a test changed its shape.
        moto must be started (not reset) by the caller."""
        if self.env is None or fingerprint() != self.shape:
            from moto.core.base_backend import BackendDict

            BackendDict.reset()
            self.env = provision("local", REGION)
            self.shape = fingerprint()
            store = _backends()["secretsmanager"].secrets
            self.secrets = {name: copy.deepcopy(dict.__getitem__(store, name)) for name in dict.keys(store)}
            self.builds += 1
        return self.env

    def clear(self) -> None:
        """Empty what tests write, keep the infrastructure (see the module docstring)."""
        from freshcart_local import faults, moto_patches

        b = _backends()
        with moto_patches.LOCK:
            ddb = b["dynamodb"]
            for table in ddb.tables.values():
                table.items.clear()
                if table.stream_shard is not None:
                    table.stream_shard.items = []
            ddb.__dict__.pop("_freshcart_tx_tokens", None)
        for queue in b["sqs"].queues.values():
            with queue._messages_lock:
                queue._messages = []
                queue._pending_messages = set()
                queue.deleted_messages = set()
                queue.last_purged_at = None
        sns = b["sns"]
        for topic in sns.topics.values():
            topic.sent_notifications.clear()
        sns.sms_messages.clear()
        for bucket in b["s3"].buckets.values():
            for key in bucket.keys.values():
                key.dispose()
            for part in bucket.multiparts.values():
                part.dispose()
            bucket.keys.clear()
            bucket.multiparts.clear()
        b["ses"].reset()  # sent mail, quotas and identities: the aws fixture verifies its sender
        for machine in b["stepfunctions"].state_machines:
            machine.executions.clear()
        store = b["secretsmanager"].secrets
        for name in list(dict.keys(store)):
            if name not in self.secrets:
                dict.__delitem__(store, name)
        for name, secret in self.secrets.items():
            dict.__setitem__(store, name, copy.deepcopy(secret))
        cloudwatch = b["cloudwatch"]
        cloudwatch.metric_data.clear()
        cloudwatch.paged_metric_data.clear()
        for alarm in cloudwatch.alarms.values():
            alarm.history.clear()
        b["lambda"].__dict__.get("lambda_simple_results_queue", []).clear()
        faults.clear()


WORLD = World()
