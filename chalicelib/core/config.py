"""Settings read once from the environment.

Resource names follow one convention (``freshcart-<stage>-<name>``) shared with
``infra/resources.json``; each can be overridden by its own environment variable.

ARNs (topics, state machines) and the bucket name carry the account id, which a committed
``.chalice/config.json`` cannot know. The `make deploy` road sets them from the template (its
Globals) and the local stage from config.json; on the `chalice deploy` road they are unset and are
built from the same convention in the caller's account and region - one STS GetCallerIdentity (which
needs no IAM permission) the first time one is read. The local stage never guesses: unset there
means "not provisioned" (publishing is skipped), as unit tests rely on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property, lru_cache


def resource_name(stage: str, name: str) -> str:
    return f"freshcart-{stage}-{name}"


LOCAL_STAGE = "local"


def _env(key: str, default: str) -> str:
    value = os.environ.get(key)
    return value if value else default


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    users_table: str
    audit_table: str
    ratelimit_table: str
    idempotency_table: str
    catalog_table: str
    vendors_table: str
    inventory_table: str
    orders_table: str
    deliveries_table: str
    notifications_table: str
    subscriptions_table: str
    reservation_ttl_seconds: int
    review_window_seconds: int
    max_order_lines: int
    low_stock_threshold: int
    default_currency: str
    notifications_queue: str
    jwt_secret_id: str
    jwt_issuer: str
    jwt_audience: str
    access_ttl_seconds: int
    refresh_ttl_seconds: int
    verify_ttl_seconds: int
    bcrypt_rounds: int
    mail_from: str
    login_max_failures: int
    login_window_seconds: int
    check_max_per_window: int
    check_window_seconds: int
    audit_ttl_days: int
    max_sessions: int
    payments_table: str
    transactions_table: str
    stripe_events_queue: str
    failed_transactions_queue: str
    stripe_secret_id: str
    stripe_api_base: str
    stripe_timeout_seconds: float
    platform_fee_bps: int
    public_api_url: str
    push_applications: dict[str, str]  # platform (android, ios) -> its SNS platform application ARN; none: no push
    delivery_cutoffs: str  # MORNING=05:00,EVENING=14:00: today's slot may be ordered until then
    delivery_horizon_days: int
    shop_utc_offset_minutes: int

    # -- named by ARN or by account: from the environment, else by convention (module docstring)
    @cached_property
    def user_events_topic_arn(self) -> str:
        return self._arn("USER_EVENTS_TOPIC_ARN", "sns", resource_name(self.stage, "user-events"))

    @cached_property
    def alerts_topic_arn(self) -> str:
        return self._arn("ALERTS_TOPIC_ARN", "sns", resource_name(self.stage, "alerts"))

    @cached_property
    def order_events_topic_arn(self) -> str:
        return self._arn("ORDER_EVENTS_TOPIC_ARN", "sns", resource_name(self.stage, "order-events"))

    @cached_property
    def delivery_events_topic_arn(self) -> str:
        return self._arn("DELIVERY_EVENTS_TOPIC_ARN", "sns", resource_name(self.stage, "delivery-events"))

    @cached_property
    def inventory_events_topic_arn(self) -> str:
        return self._arn("INVENTORY_EVENTS_TOPIC_ARN", "sns", resource_name(self.stage, "inventory-events"))

    @cached_property
    def payment_events_topic_arn(self) -> str:
        return self._arn("PAYMENT_EVENTS_TOPIC_ARN", "sns", resource_name(self.stage, "payment-events"))

    @cached_property
    def checkout_state_machine_arn(self) -> str:
        machine = resource_name(self.stage, "checkout")
        return self._arn("CHECKOUT_STATE_MACHINE_ARN", "states", f"stateMachine:{machine}")

    @cached_property
    def checkout_await_state_machine_arn(self) -> str:
        machine = resource_name(self.stage, "checkout-await")
        return self._arn("CHECKOUT_AWAIT_STATE_MACHINE_ARN", "states", f"stateMachine:{machine}")

    @cached_property
    def archive_bucket(self) -> str:
        value = _env("ARCHIVE_BUCKET", "")
        if value or self.stage == LOCAL_STAGE:
            return value
        return f"{resource_name(self.stage, 'archive')}-{caller_account()[1]}"

    def _arn(self, key: str, service: str, resource: str) -> str:
        value = _env(key, "")
        if value or self.stage == LOCAL_STAGE:
            return value
        partition, account = caller_account()
        return f"arn:{partition}:{service}:{self.region}:{account}:{resource}"


@lru_cache(maxsize=1)
def caller_account() -> tuple[str, str]:
    """(partition, account id) of the credentials in use: one STS call, cached."""
    from chalicelib.core import aws

    arn: str = aws.client("sts").get_caller_identity()["Arn"]
    parts = arn.split(":")
    return parts[1], parts[4]


def stage_name() -> str:
    """The stage this code runs as; also used at import time to name queues for handlers."""
    return _env("FRESHCART_STAGE", "dev")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    stage = stage_name()
    region = _env("AWS_REGION", _env("AWS_DEFAULT_REGION", "us-east-1"))

    def name(key: str, suffix: str) -> str:
        return _env(key, resource_name(stage, suffix))

    return Settings(
        stage=stage,
        region=region,
        users_table=name("USERS_TABLE", "users"),
        audit_table=name("AUDIT_TABLE", "audit"),
        ratelimit_table=name("RATELIMIT_TABLE", "ratelimits"),
        idempotency_table=name("IDEMPOTENCY_TABLE", "idempotency"),
        catalog_table=name("CATALOG_TABLE", "catalog"),
        vendors_table=name("VENDORS_TABLE", "vendors"),
        inventory_table=name("INVENTORY_TABLE", "inventory"),
        orders_table=name("ORDERS_TABLE", "orders"),
        deliveries_table=name("DELIVERIES_TABLE", "deliveries"),
        notifications_table=name("NOTIFICATIONS_TABLE", "notifications"),
        subscriptions_table=name("SUBSCRIPTIONS_TABLE", "subscriptions"),
        reservation_ttl_seconds=int(_env("RESERVATION_TTL_SECONDS", "900")),
        review_window_seconds=int(_env("REVIEW_WINDOW_SECONDS", "86400")),
        max_order_lines=int(_env("MAX_ORDER_LINES", "25")),
        low_stock_threshold=int(_env("LOW_STOCK_THRESHOLD", "5")),
        default_currency=_env("DEFAULT_CURRENCY", "INR"),
        notifications_queue=name("NOTIFICATIONS_QUEUE", "notifications"),
        jwt_secret_id=_env("JWT_SECRET_ID", f"freshcart/{stage}/jwt"),
        jwt_issuer=_env("JWT_ISSUER", f"freshcart-{stage}"),
        jwt_audience=_env("JWT_AUDIENCE", "freshcart-api"),
        access_ttl_seconds=int(_env("ACCESS_TTL_SECONDS", "900")),
        refresh_ttl_seconds=int(_env("REFRESH_TTL_SECONDS", str(30 * 24 * 3600))),
        verify_ttl_seconds=int(_env("VERIFY_TTL_SECONDS", str(24 * 3600))),
        bcrypt_rounds=int(_env("BCRYPT_ROUNDS", "12")),
        mail_from=_env("MAIL_FROM", "no-reply@freshcart.example"),
        login_max_failures=int(_env("LOGIN_MAX_FAILURES", "5")),
        login_window_seconds=int(_env("LOGIN_WINDOW_SECONDS", "900")),
        check_max_per_window=int(_env("CHECK_MAX_PER_WINDOW", "20")),
        check_window_seconds=int(_env("CHECK_WINDOW_SECONDS", "60")),
        audit_ttl_days=int(_env("AUDIT_TTL_DAYS", "90")),
        max_sessions=int(_env("MAX_SESSIONS", "10")),
        payments_table=name("PAYMENTS_TABLE", "payments"),
        transactions_table=name("TRANSACTIONS_TABLE", "transactions"),
        stripe_events_queue=name("STRIPE_EVENTS_QUEUE", "stripe-events"),
        failed_transactions_queue=name("FAILED_TRANSACTIONS_QUEUE", "failed-transactions"),
        stripe_secret_id=_env("STRIPE_SECRET_ID", f"freshcart/{stage}/stripe"),
        # Set only on the local stage (localstripe); empty means api.stripe.com.
        stripe_api_base=_env("STRIPE_API_BASE", ""),
        stripe_timeout_seconds=float(_env("STRIPE_TIMEOUT_SECONDS", "10")),
        platform_fee_bps=int(_env("PLATFORM_FEE_BPS", "500")),
        # Where people reach the API (links in emails); empty: links are paths only.
        public_api_url=_env("PUBLIC_API_URL", "").rstrip("/"),
        push_applications={
            platform: arn
            for platform in ("android", "ios")
            if (arn := _env(f"PUSH_{platform.upper()}_APPLICATION_ARN", ""))
        },
        delivery_cutoffs=_env("DELIVERY_CUTOFFS", "MORNING=05:00,EVENING=14:00"),
        delivery_horizon_days=int(_env("DELIVERY_HORIZON_DAYS", "14")),
        shop_utc_offset_minutes=int(_env("SHOP_UTC_OFFSET_MINUTES", "330")),
    )


def reset() -> None:
    """Forget cached settings (tests change the environment)."""
    get_settings.cache_clear()
    caller_account.cache_clear()
