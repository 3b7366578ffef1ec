"""The template's SNS email subscriptions (the alerts topic -> ``NotificationEmail``), delivered
into the local mailbox: moto accepts an email subscription but sends nothing, so the local stack
subscribes a queue of its own to those topics and mails each message through SES, as SNS would."""

from __future__ import annotations

import json
import threading
from typing import Any

from freshcart_local.eventlog import Polling
from freshcart_local.runtime import ACCOUNT_ID


def email_subscriptions(template: dict[str, Any], stage: str, region: str) -> list[tuple[str, str]]:
    """(topic ARN, address) of each email subscription in the template, with its defaults."""
    resources, params = template["Resources"], template.get("Parameters", {})
    out = []
    for res in resources.values():
        props = res.get("Properties", {})
        if res.get("Type") != "AWS::SNS::Subscription" or props.get("Protocol") != "email":
            continue
        topic = resources[props["TopicArn"]["Ref"]]["Properties"]["TopicName"]["Fn::Sub"].replace("${Stage}", stage)
        endpoint = props["Endpoint"]
        address = params[endpoint["Ref"]]["Default"] if isinstance(endpoint, dict) else endpoint
        out.append((f"arn:aws:sns:{region}:{ACCOUNT_ID}:{topic}", str(address)))
    return out


class EmailRelay(Polling):
    def __init__(self, subscriptions: list[tuple[str, str]], stage: str, region: str, source: str) -> None:
        self.subscriptions, self.source, self.region = subscriptions, source, region
        self.name = f"freshcart-{stage}-local-email-relay"
        self.by_topic = dict(subscriptions)
        self.queue_url = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from chalicelib.core import aws

        if not self.subscriptions:
            return
        sqs, sns = aws.client("sqs"), aws.client("sns")
        self.queue_url = sqs.create_queue(QueueName=self.name)["QueueUrl"]
        arn = f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{self.name}"
        for topic, _ in self.subscriptions:  # not raw: the envelope names the topic, hence the address
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        self._run(sqs, "email-relay")

    def poll(self, sqs: Any, wait_seconds: int = 1) -> int:
        from chalicelib.core import aws

        messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
        got = messages.get("Messages", [])
        for m in got:
            note = json.loads(m["Body"])
            to = self.by_topic.get(str(note.get("TopicArn")))
            if to:
                try:
                    kind = json.loads(note["Message"]).get("type", "message")
                    body = json.dumps(json.loads(note["Message"]), indent=2)
                except (ValueError, AttributeError):
                    kind, body = "message", str(note.get("Message"))
                subject = f"AWS Notification: {kind} on {str(note['TopicArn']).rsplit(':', 1)[-1]}"
                aws.client("ses").send_email(
                    Source=self.source,
                    Destination={"ToAddresses": [to]},
                    Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": body}}},
                )
            sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return len(got)
