"""Composition root: services wired to their repositories, built once per container. Domains
that need each other meet here (catalog and vendors ask through small protocols), so no
domain package imports another's service."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.audit.repo import Actor
from chalicelib.users.auth import AuthService
from chalicelib.users.repo import UsersRepo

if TYPE_CHECKING:
    from chalicelib.catalog.service import CatalogService
    from chalicelib.deliveries.service import DeliveryService
    from chalicelib.inventory.reconcile import StockReconciler
    from chalicelib.inventory.service import InventoryService
    from chalicelib.notifications.devices import Devices
    from chalicelib.notifications.repo import FeedRepo
    from chalicelib.orders.lifecycle import OrderLifecycle
    from chalicelib.orders.placement import OrderPlacement
    from chalicelib.orders.views import OrderViews
    from chalicelib.payments.methods import SavedMethods
    from chalicelib.payments.reconcile import PaymentReconciler
    from chalicelib.payments.service import PaymentService
    from chalicelib.payments.statements import Statements
    from chalicelib.payments.webhooks import WebhookInbox
    from chalicelib.reports.service import ReportService
    from chalicelib.subscriptions.service import SubscriptionService
    from chalicelib.users.profile import ProfileService
    from chalicelib.vendors.service import VendorService


@lru_cache(maxsize=1)
def auth() -> AuthService:
    return AuthService(UsersRepo())


# The rest is imported on first use: the authorizer and the auth routes skip them.
@lru_cache(maxsize=1)
def profiles() -> ProfileService:
    from chalicelib.users.profile import ProfileService

    return ProfileService(UsersRepo())


@lru_cache(maxsize=1)
def vendors() -> VendorService:
    from chalicelib.catalog.repo import CatalogRepo
    from chalicelib.vendors.repo import VendorsRepo
    from chalicelib.vendors.service import VendorService

    return VendorService(VendorsRepo(), UsersRepo(), CatalogRepo())


@lru_cache(maxsize=1)
def catalog() -> CatalogService:
    from chalicelib.catalog.repo import CatalogRepo
    from chalicelib.catalog.service import CatalogService

    return CatalogService(CatalogRepo(), vendors())


@lru_cache(maxsize=1)
def inventory() -> InventoryService:
    from chalicelib.inventory.repo import InventoryRepo
    from chalicelib.inventory.service import InventoryService

    return InventoryService(InventoryRepo(), catalog(), vendors())


@lru_cache(maxsize=1)
def order_placement() -> OrderPlacement:
    from chalicelib.catalog.repo import CatalogRepo
    from chalicelib.inventory.repo import InventoryRepo
    from chalicelib.orders.placement import OrderPlacement
    from chalicelib.orders.repo import OrdersRepo
    from chalicelib.vendors.repo import VendorsRepo

    return OrderPlacement(OrdersRepo(), CatalogRepo(), VendorsRepo(), InventoryRepo(), UsersRepo())


@lru_cache(maxsize=1)
def order_lifecycle() -> OrderLifecycle:
    from chalicelib.catalog.repo import CatalogRepo
    from chalicelib.inventory.repo import InventoryRepo
    from chalicelib.orders.lifecycle import OrderLifecycle
    from chalicelib.orders.repo import OrdersRepo
    from chalicelib.vendors.repo import VendorsRepo

    return OrderLifecycle(OrdersRepo(), InventoryRepo(), CatalogRepo(), VendorsRepo(), reviews=_Reviews())


class _Reviews:
    """A fraud hold's decision goes to payments (which needs the lifecycle in turn)."""

    def resolve(self, order_id: str, approve: bool, actor: Actor, reason: str | None) -> None:
        payments().resolve(order_id, approve, actor, reason)


@lru_cache(maxsize=1)
def order_views() -> OrderViews:
    from chalicelib.orders.repo import OrdersRepo
    from chalicelib.orders.views import OrderViews

    return OrderViews(OrdersRepo(), order_lifecycle())


@lru_cache(maxsize=1)
def payments() -> PaymentService:
    from chalicelib.audit.chain import Chain
    from chalicelib.orders.repo import OrdersRepo
    from chalicelib.payments.adapters import SnsBus, SqsRetryQueue, StepFunctions
    from chalicelib.payments.gateway import StripeGateway
    from chalicelib.payments.ledger import LedgerRepo
    from chalicelib.payments.repo import PaymentsRepo
    from chalicelib.payments.service import PaymentService

    return PaymentService(
        PaymentsRepo(),
        LedgerRepo(),
        Chain("PAYMENT"),
        StripeGateway(),
        order_lifecycle(),
        OrdersRepo(),
        UsersRepo(),
        StepFunctions(),
        SnsBus(),
        SqsRetryQueue(),
    )


@lru_cache(maxsize=1)
def saved_methods() -> SavedMethods:
    from chalicelib.payments.methods import SavedMethods
    from chalicelib.payments.repo import PaymentsRepo
    from chalicelib.payments.wallet import StripeWallet

    return SavedMethods(PaymentsRepo(), StripeWallet())


@lru_cache(maxsize=1)
def statements() -> Statements:
    from chalicelib.payments.ledger import LedgerRepo
    from chalicelib.payments.statements import Statements

    return Statements(LedgerRepo())


@lru_cache(maxsize=1)
def webhooks() -> WebhookInbox:
    from chalicelib.payments.gateway import StripeGateway
    from chalicelib.payments.webhooks import WebhookInbox

    return WebhookInbox(StripeGateway())


@lru_cache(maxsize=1)
def reports() -> ReportService:
    from chalicelib.core.config import get_settings
    from chalicelib.notifications import mailer
    from chalicelib.orders.repo import OrdersRepo
    from chalicelib.reports.repo import ReportsRepo
    from chalicelib.reports.service import ReportService

    return ReportService(
        OrdersRepo(),
        UsersRepo(),
        ReportsRepo(),
        mailer.send,
        base_url=get_settings().public_api_url,
        money=lambda day: payment_reconciler().day_money(day),
        low_stock=lambda day: stock_reconciler().low_stock(),
    )


class _OrderStockUse:
    """The orders' side of stock reconciliation (inventory cannot import orders: orders uses it)."""

    def stock_use(self) -> dict[tuple[str, str, str], dict[str, int]]:
        from chalicelib.orders.repo import OrdersRepo
        from chalicelib.orders.views import stock_use

        return stock_use(OrdersRepo())


@lru_cache(maxsize=1)
def stock_reconciler() -> StockReconciler:
    from chalicelib.inventory.reconcile import StockReconciler
    from chalicelib.inventory.repo import InventoryRepo

    return StockReconciler(InventoryRepo(), _OrderStockUse())


@lru_cache(maxsize=1)
def payment_reconciler() -> PaymentReconciler:
    from chalicelib.payments.ledger import LedgerRepo
    from chalicelib.payments.reconcile import PaymentReconciler
    from chalicelib.payments.repo import PaymentsRepo
    from chalicelib.payments.stripe_records import StripeRecords

    return PaymentReconciler(
        LedgerRepo(),
        PaymentsRepo(),
        StripeRecords(),
        complete_refund=lambda order_id, refund_id: payments().refunds.complete(order_id, refund_id, queued=True),
    )


@lru_cache(maxsize=1)
def deliveries() -> DeliveryService:
    from chalicelib.deliveries.adapters import S3Proofs, SnsDeliveryEvents
    from chalicelib.deliveries.repo import DeliveriesRepo
    from chalicelib.deliveries.service import DeliveryService
    from chalicelib.vendors.repo import VendorsRepo

    return DeliveryService(
        DeliveriesRepo(), order_lifecycle(), VendorsRepo(), _Drivers(), S3Proofs(), SnsDeliveryEvents(), payments()
    )


@lru_cache(maxsize=1)
def devices() -> Devices:
    from chalicelib.notifications.devices import Devices

    return Devices(feed())


@lru_cache(maxsize=1)
def feed() -> FeedRepo:
    from chalicelib.notifications.repo import FeedRepo

    return FeedRepo()


@lru_cache(maxsize=1)
def subscriptions() -> SubscriptionService:
    from chalicelib.catalog.repo import CatalogRepo
    from chalicelib.subscriptions.repo import SubscriptionsRepo
    from chalicelib.subscriptions.service import SubscriptionService

    return SubscriptionService(
        SubscriptionsRepo(),
        CatalogRepo(),
        UsersRepo(),
        _SubscriptionOrders(),
        payments(),
        saved_methods(),
        _UserEvents(),
        _Serving(),
    )


class _Serving:
    """The vendors domain's area index, as a subscription asks it."""

    def serves(self, pincode: str, product_id: str) -> bool:
        from chalicelib.vendors.repo import VendorsRepo

        return any(v.get("active") and product_id in v.get("products", []) for v in VendorsRepo().by_pincode(pincode))


class _SubscriptionOrders:
    """The orders domain, as the subscription job places and reads its orders."""

    def place(self, who: Any, body: Any, key: str, client: Any, subscription_id: str | None = None) -> Any:
        return order_placement().place(who, body, key, client, subscription_id=subscription_id)

    def status(self, order_id: str) -> str | None:
        order = order_lifecycle().orders.get(order_id)
        return str(order["status"]) if order else None


class _UserEvents:
    """What the customer is told of their subscription (the user-events topic: notifications)."""

    def publish(self, kind: str, data: dict[str, Any], event_id: str) -> None:
        from chalicelib.core import events
        from chalicelib.core.config import get_settings

        events.publish(get_settings().user_events_topic_arn, kind, data, event_id=event_id)


class _Drivers:
    """Who may be given a delivery: an active user with the driver role (the users domain's)."""

    def is_driver(self, user_id: str) -> bool:
        user = UsersRepo().get(user_id) or {}
        return user.get("role") == "driver" and user.get("status", "active") == "active"


def repositories() -> dict[str, Any]:
    """Each domain's repository of its own table (the health check pings them)."""
    from chalicelib.catalog.repo import CatalogRepo
    from chalicelib.deliveries.repo import DeliveriesRepo
    from chalicelib.inventory.repo import InventoryRepo
    from chalicelib.notifications.repo import FeedRepo
    from chalicelib.orders.repo import OrdersRepo
    from chalicelib.payments.ledger import LedgerRepo
    from chalicelib.payments.repo import PaymentsRepo
    from chalicelib.subscriptions.repo import SubscriptionsRepo
    from chalicelib.vendors.repo import VendorsRepo

    return {
        "users": UsersRepo(),
        "catalog": CatalogRepo(),
        "vendors": VendorsRepo(),
        "inventory": InventoryRepo(),
        "orders": OrdersRepo(),
        "payments": PaymentsRepo(),
        "ledger": LedgerRepo(),
        "deliveries": DeliveriesRepo(),
        "notifications": FeedRepo(),
        "subscriptions": SubscriptionsRepo(),
    }


def is_admin(authorization: str | None) -> bool:
    """Does this Authorization header carry a valid admin token? (for public routes that show
    admins more)."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return False
    try:
        return auth().authorize(authorization[7:].strip())[1] == "admin"
    except Exception:
        return False


def reset() -> None:
    from chalicelib.payments import gateway

    gateway.reset()
    for factory in (
        auth,
        profiles,
        vendors,
        catalog,
        inventory,
        order_placement,
        order_lifecycle,
        order_views,
        payments,
        statements,
        webhooks,
        reports,
        stock_reconciler,
        payment_reconciler,
        deliveries,
        feed,
        devices,
        saved_methods,
        subscriptions,
    ):
        factory.cache_clear()
