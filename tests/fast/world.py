"""The payment services composed as ``chalicelib/bootstrap.py`` composes them, over MemoryDynamo
instead of DynamoDB and in-memory fakes instead of Stripe, Step Functions, SNS and SQS, with one
clock the test moves. The orders side is the real one: placement, the lifecycle (the payments'
``Orders`` port), the repositories. Started checkouts run the real ASL (``tests/fast/asl.py``)
against the real Lambda handlers (``chalicelib/payments/jobs.py``)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.audit.chain import Chain
from chalicelib.audit.repo import Actor
from chalicelib.catalog.models import ProductBody
from chalicelib.catalog.repo import CatalogRepo
from chalicelib.catalog.service import CatalogService
from chalicelib.core.context import Caller, ClientInfo
from chalicelib.inventory.models import StockChange
from chalicelib.inventory.repo import InventoryRepo
from chalicelib.inventory.service import InventoryService
from chalicelib.orders.lifecycle import OrderLifecycle
from chalicelib.orders.models import OrderBody
from chalicelib.orders.placement import OrderPlacement
from chalicelib.orders.repo import OrdersRepo
from chalicelib.payments.ledger import LedgerRepo
from chalicelib.payments.repo import PaymentsRepo
from chalicelib.payments.service import PaymentService
from chalicelib.users.auth import AuthService
from chalicelib.users.models import AddressBody, ProfilePatch, RegisterBody
from chalicelib.users.profile import ProfileService
from chalicelib.users.repo import UsersRepo
from chalicelib.vendors.models import VendorBody
from chalicelib.vendors.repo import VendorsRepo
from chalicelib.vendors.service import VendorService
from tests.factories import ADDRESS, vendor_body
from tests.fakes import MemoryBus, MemoryQueue, MemoryWorkflows
from tests.fast.asl import Execution, machine
from tests.fast.stripe_double import StripeDouble
from tests.memory_dynamo import MemoryDynamo

ADMIN = Caller("admin-1", "admin", "s-admin")
MANAGER = Actor("manager-1", "manager", "10.0.0.9", "pytest")
CLIENT = ClientInfo("10.0.0.1", "pytest-agent", "IN")


class Clock:
    """Now, in epoch seconds: the real time plus what the test has moved it on. Also stands in
    for the ``time`` module where the orders domain reads the time itself."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def time(self) -> float:
        return self()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self(), UTC)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class _Reviews:
    def __init__(self, world: World) -> None:
        self.world = world

    def resolve(self, order_id: str, approve: bool, actor: Actor, reason: str | None) -> None:
        self.world.svc.resolve(order_id, approve, actor, reason)


@dataclass
class Customer:
    who: Caller
    address_id: str


@dataclass
class World:
    dynamo: MemoryDynamo
    clock: Clock
    stripe: StripeDouble = field(init=False)
    workflows: MemoryWorkflows = field(default_factory=MemoryWorkflows)
    bus: MemoryBus = field(default_factory=MemoryBus)
    queue: MemoryQueue = field(default_factory=MemoryQueue)
    fanout: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # the FanOut's SNS and Firehose calls
    executions: list[Execution] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stripe = StripeDouble(self.clock)
        self.lifecycle = OrderLifecycle(
            OrdersRepo(), InventoryRepo(), CatalogRepo(), VendorsRepo(), reviews=_Reviews(self)
        )
        self.svc = PaymentService(
            PaymentsRepo(),
            LedgerRepo(),
            Chain("PAYMENT"),
            self.stripe,
            self.lifecycle,
            OrdersRepo(),
            UsersRepo(),
            self.workflows,
            self.bus,
            self.queue,
            self.clock,
        )
        self.placement = OrderPlacement(OrdersRepo(), CatalogRepo(), VendorsRepo(), InventoryRepo(), UsersRepo())
        vendors = VendorService(VendorsRepo(), UsersRepo(), CatalogRepo())
        self.catalog = CatalogService(CatalogRepo(), vendors)
        self.vendors = vendors
        self.inventory = InventoryService(InventoryRepo(), self.catalog, vendors)
        self._ran = 0

    # -- a small shop, through the domains' own services ---------------------------------------
    def shop(self, stock: int = 10, price: int = 3000) -> None:
        body = {
            "name": "Milk",
            "category": "dairy",
            "variants": [{"name": "1l", "unit": "ml", "sku": "MLK-1", "prices": {"INR": price}}],
        }
        self.product = self.catalog.create(ADMIN, ProductBody.model_validate(body), CLIENT)
        self.vendor = self.vendors.create(
            ADMIN, VendorBody.model_validate(vendor_body([self.product["productId"]])), CLIENT
        )
        self.variant = self.product["variants"][0]["variantId"]
        change = {
            "productId": self.product["productId"],
            "variantId": self.variant,
            "vendorId": self.vendor["vendorId"],
            "set": stock,
            "reason": "restock",
        }
        self.inventory.change(ADMIN, StockChange.model_validate(change), CLIENT)

    def customer(self, name: str = "ann") -> Customer:
        register = {"username": name, "email": f"{name}@example.com", "password": "correct-horse-42"}
        user_id = AuthService(UsersRepo()).register(RegisterBody.model_validate(register), CLIENT)["userId"]
        who = Caller(user_id, "customer", f"s-{name}")
        profiles = ProfileService(UsersRepo())
        profiles.update_me(who, ProfilePatch.model_validate({"name": name.title(), "phone": "+91 98765 43210"}))
        address = profiles.add_address(who, AddressBody.model_validate(ADDRESS))
        return Customer(who, address["addressId"])

    def place(self, customer: Customer, qty: int = 2) -> dict[str, Any]:
        body = {
            "items": [{"productId": self.product["productId"], "variantId": self.variant, "quantity": qty}],
            "addressId": customer.address_id,
        }
        status, order = self.placement.place(customer.who, OrderBody.model_validate(body), uuid.uuid4().hex, CLIENT)
        assert status == 201, order
        return order

    def stock(self) -> tuple[int, int]:
        row = InventoryRepo().get(self.product["productId"], self.variant, self.vendor["vendorId"])
        assert row is not None
        return int(row["available"]), int(row["reserved"])

    # -- paying, and the workflows it starts ---------------------------------------------------
    def pay(
        self, customer: Customer, order_id: str, method: str = "pm_card_visa", key: str | None = None
    ) -> dict[str, Any]:
        """POST /orders/{id}/pay, then every checkout it started runs to its end."""
        answer = self.svc.pay(customer.who, order_id, method, key or uuid.uuid4().hex, CLIENT)
        self.drain()
        return answer

    def execution(self, order_id: str, payment_id: str, phase: str = "start") -> Execution:
        """A checkout execution as StepFunctions.start_checkout starts it (not yet run)."""
        run = Execution(
            machine(),
            {"orderId": order_id, "paymentId": payment_id, "phase": phase, "correlationId": "-"},
            self._invoke,
            self._service,
        )
        self.executions.append(run)
        return run

    def started(self) -> list[Execution]:
        """An execution (not yet run) of each checkout started since the last call."""
        new = self.workflows.started[self._ran :]
        self._ran = len(self.workflows.started)
        return [self.execution(*started) for started in new]

    def drain(self) -> list[Execution]:
        """Run each checkout started since the last drain, in order, to its end (and those they
        start in turn)."""
        ran: list[Execution] = []
        while self._ran < len(self.workflows.started):
            ran += [e.run() for e in self.started()]
        return ran

    @staticmethod
    def _invoke(function: str, payload: dict[str, Any]) -> Any:
        from chalicelib.payments import jobs

        event = json.loads(json.dumps(payload))  # what crosses Lambda's boundary is JSON, both ways
        return json.loads(json.dumps(getattr(jobs, function)(event, None)))  # the entry point, as Lambda calls it

    def _service(self, resource: str, params: dict[str, Any]) -> dict[str, Any]:
        self.fanout.append((resource.rsplit(":", 1)[-1], params))
        return {}
