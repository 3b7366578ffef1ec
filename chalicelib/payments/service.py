"""The payments domain's one entry point for its handlers (``api.py``, ``jobs.py``) and the other
domains: the capabilities wired together. Each capability lives in its own module:

- ``checkout.py``: start a payment, show it, the dry run;
- ``steps.py``: the checkout workflow's steps and the retry of a deferred charge;
- ``compensation.py``: what a checkout that cannot end paid gives back;
- ``refunds.py``: a manager's refunds and the automatic refund of a cancelled order;
- ``events.py``: Stripe's events; ``disputes.py``: disputes, failed and dashboard refunds;
- ``ledger.py``: the entries money movements write; ``book.py``: the chained change;
- ``gateway.py`` (Stripe), ``adapters.py`` (Step Functions, SNS, SQS), behind ``ports.py``.
"""

from __future__ import annotations

import time
from typing import Any

from chalicelib.audit.chain import Chain
from chalicelib.audit.repo import Actor
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.payments.book import PaymentBook
from chalicelib.payments.checkout import Checkout
from chalicelib.payments.compensation import Compensation
from chalicelib.payments.disputes import AfterSale
from chalicelib.payments.events import StripeEvents
from chalicelib.payments.fraud import FraudScreen
from chalicelib.payments.ledger import Ledger, LedgerRepo
from chalicelib.payments.ports import Bus, Clock, OrderReads, Orders, RetryQueue, Stripe, Users, Workflows
from chalicelib.payments.refunds import Refunds
from chalicelib.payments.repo import PaymentsRepo
from chalicelib.payments.steps import CheckoutSteps


class PaymentService:
    def __init__(
        self,
        payments: PaymentsRepo,
        ledger: LedgerRepo,
        chain: Chain,
        stripe: Stripe,
        orders: Orders,
        order_reads: OrderReads,
        users: Users,
        workflows: Workflows,
        bus: Bus,
        retries: RetryQueue,
        clock: Clock = time.time,
    ) -> None:
        self.payments, self.ledger, self.chain = payments, ledger, chain
        self.book = PaymentBook(payments, chain, bus, clock)
        money = Ledger(ledger)
        fraud = FraudScreen(order_reads)
        self.compensation = Compensation(self.book, money, stripe, orders)
        self.checkout = Checkout(self.book, stripe, orders, order_reads, users, workflows, fraud)
        self.steps = CheckoutSteps(
            self.book, money, stripe, orders, users, workflows, fraud, self.compensation, retries
        )
        self.refunds = Refunds(self.book, money, stripe, orders, retries)
        self.after_sale = AfterSale(self.book, money, stripe, orders, retries)
        self.events = StripeEvents(self.book, stripe, workflows, self.compensation, self.after_sale)

    # -- the API
    def pay(
        self, who: Caller, order_id: str, method: str, key: str, client: ClientInfo, customer: str | None = None
    ) -> dict[str, Any]:
        return self.checkout.pay(who, order_id, method, key, client, customer)

    def view(self, order_id: str, staff: bool = False) -> dict[str, Any]:
        return self.checkout.view(order_id, staff)

    def validate(self, who: Caller, order_id: str, method: str | None, client: ClientInfo) -> dict[str, Any]:
        return self.checkout.validate(who, order_id, method, client)

    def refund(self, who: Actor, order_id: str, amount: int | None, reason: str, key: str) -> dict[str, Any]:
        return self.refunds.refund(who, order_id, amount, reason, key)

    # -- the other domains (orders' approve/reject)
    def resolve(self, order_id: str, approve: bool, actor: Actor, reason: str | None) -> None:
        self.steps.resolve(order_id, approve, actor, reason)

    # -- queues and schedules
    def apply_event(self, event: dict[str, Any]) -> str:
        return self.events.apply(event)

    def retry_deferred(self, message: dict[str, Any]) -> str:
        """The failed-transactions consumer: a deferred charge or a refund Stripe did not answer."""
        if message.get("kind") == "refund":
            return self.refunds.complete(message["orderId"], message["refundId"], queued=True)
        if message.get("kind") == "owed":  # a cancelled order's money a failed refund did not give back
            return self.refunds.refund_cancelled(message["orderId"], "order cancelled: what is still owed")
        return self.steps.retry_deferred(message["orderId"], message["paymentId"])

    def refund_cancelled(self, order_id: str, reason: str) -> str:
        return self.refunds.refund_cancelled(order_id, reason)

    def settle_expired(self, order_id: str) -> str:
        return self.compensation.settle_expired(order_id)

    def verify_chain(self, order_id: str) -> list[str]:
        return self.book.verify_chain(order_id)
