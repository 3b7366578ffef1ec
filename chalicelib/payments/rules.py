"""Pure payment rules: the payment status machine, fraud scoring, how money splits, and which
Stripe event may move a payment where. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.payments.records import LedgerEntry, Payment

# -- the payment status machine ------------------------------------------------------------
PROCESSING, REQUIRES_ACTION, HELD = "PROCESSING", "REQUIRES_ACTION", "HELD"
SUCCEEDED, FAILED, REFUNDED = "SUCCEEDED", "FAILED", "REFUNDED"

# REFUNDED here is the compensation of a charge that could not become a paid order (its
# reservation expired meanwhile, a step after the charge failed); refunds of a paid order keep
# the payment SUCCEEDED and raise ``refunded``.
TRANSITIONS: dict[str, frozenset[str]] = {
    PROCESSING: frozenset({REQUIRES_ACTION, HELD, SUCCEEDED, FAILED, REFUNDED}),
    HELD: frozenset({PROCESSING, FAILED}),
    REQUIRES_ACTION: frozenset({PROCESSING, SUCCEEDED, FAILED, REFUNDED}),
    SUCCEEDED: frozenset({REFUNDED}),
    FAILED: frozenset(),
    REFUNDED: frozenset(),
}
OPEN = frozenset({PROCESSING, REQUIRES_ACTION, HELD})  # a payment in flight: no second one
# The client-facing summary of a payment's state (POST /orders/{id}/pay's ``status``).
PUBLIC = {PROCESSING: PROCESSING, HELD: PROCESSING, REQUIRES_ACTION: REQUIRES_ACTION, SUCCEEDED: SUCCEEDED}


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def public_status(status: str) -> str:
    return PUBLIC.get(status, FAILED)


# -- fraud -----------------------------------------------------------------------------------
# Thresholds in minor units for every currency the shop may price in (ISO 4217 minor units: JPY
# has none, so its figures are yen). A currency missing here is never scored with another's
# figures: its payments are held for a person to review.
AMOUNT_LIMIT = {
    "INR": 2_000_000,
    "USD": 50_000,
    "EUR": 50_000,
    "GBP": 40_000,
    "AUD": 75_000,
    "CAD": 70_000,
    "SGD": 70_000,
    "AED": 180_000,
    "JPY": 75_000,
}
FIRST_ORDER_LIMIT = {
    "INR": 500_000,
    "USD": 15_000,
    "EUR": 15_000,
    "GBP": 12_000,
    "AUD": 22_000,
    "CAD": 20_000,
    "SGD": 20_000,
    "AED": 55_000,
    "JPY": 22_000,
}
VELOCITY_LIMIT = 5  # orders by one user in the last hour
HOLD_AT, BLOCK_AT = 40, 80


@dataclass(frozen=True)
class FraudInput:
    amount: int
    currency: str
    first_order: bool  # no order of this account was ever paid
    orders_last_hour: int  # other orders placed in the last hour
    known_device: bool  # seen by this account before the login this payment comes from
    known_ip: bool
    address_country: str | None
    request_country: str | None
    spent_last_hour: int = 0  # the other orders of the last hour, in this currency
    card_country: str | None = None  # where the card was issued (the PaymentMethod's card.country)


@dataclass
class FraudScore:
    score: int
    decision: str
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, "decision": self.decision, "reasons": self.reasons}


def score_fraud(f: FraudInput) -> FraudScore:
    """Each rule that fires adds its weight and says why; 40+ holds for review, 80+ blocks."""
    score, reasons = 0, []
    limit = AMOUNT_LIMIT.get(f.currency)
    first_limit = FIRST_ORDER_LIMIT.get(f.currency)
    if limit is None or first_limit is None:
        score += HOLD_AT
        reasons.append(f"no fraud limits are set for {f.currency}: a person reviews it")
    else:
        if f.amount > limit:
            score += 45
            reasons.append(f"amount {f.amount} is over the {f.currency} limit of {limit}")
        elif f.spent_last_hour + f.amount > limit:  # one big order split into several under the limit
            score += 40
            reasons.append(f"{f.spent_last_hour + f.amount} {f.currency} in the last hour is over the limit of {limit}")
        if f.first_order and f.amount > first_limit:
            score += 30
            reasons.append(f"first order above {first_limit} {f.currency}")
    if f.orders_last_hour > VELOCITY_LIMIT:
        score += 40
        reasons.append(f"{f.orders_last_hour} orders in the last hour (limit {VELOCITY_LIMIT})")
    if not f.known_device:
        score += 15
        reasons.append("a device this account has not signed in from")
    if not f.known_ip:
        score += 10
        reasons.append("an IP address this account has not signed in from")
    if f.address_country and f.request_country and f.address_country.upper() != f.request_country.upper():
        score += 25
        reasons.append(f"request from {f.request_country.upper()}, delivery to {f.address_country.upper()}")
    if f.address_country and f.card_country and f.address_country.upper() != f.card_country.upper():
        score += 25
        reasons.append(f"card issued in {f.card_country.upper()}, delivery to {f.address_country.upper()}")
    decision = "block" if score >= BLOCK_AT else "hold" if score >= HOLD_AT else "pass"
    return FraudScore(min(score, 100), decision, reasons)


def known_before(devices: list[dict[str, Any]], login_at: str | None) -> list[dict[str, Any]]:
    """The account's devices first seen before the login a payment comes from: a device or IP
    that an attacker's own login just added is not "known". Rows from before devices carried
    ``firstSeen`` count as earlier; without a login time every row counts."""
    if not login_at:
        return list(devices)
    return [d for d in devices if str(d.get("firstSeen") or "") < login_at]


# -- money -------------------------------------------------------------------------------------
def split(amount: int, weights: dict[str, int]) -> dict[str, int]:
    """``amount`` shared by integer weights, exactly (largest remainder; ties by key)."""
    total = sum(weights.values())
    if amount == 0 or total <= 0:
        return {k: 0 for k in weights}
    shares = {k: amount * w // total for k, w in weights.items()}
    left = amount - sum(shares.values())
    by_remainder = sorted(weights, key=lambda k: (-(amount * weights[k] % total), k))
    for k in by_remainder[:left]:
        shares[k] += 1
    return shares


def settlement(total: int, lines: list[dict[str, Any]], fee_bps: int) -> tuple[int, dict[str, int]]:
    """(platform fee, each vendor's share) of a captured ``total``: the fee first, the rest by
    each vendor's line value. Fee + shares = total, always."""
    fee = total * fee_bps // 10_000
    weights: dict[str, int] = {}
    for line in lines:
        weights[line["vendorId"]] = weights.get(line["vendorId"], 0) + int(line["unitPrice"]) * int(line["quantity"])
    return fee, split(total - fee, weights)


def refund_reversal(amount: int, settled: dict[str, int], fee: int) -> dict[str, int]:
    """How a refund of ``amount`` takes back from what was settled: each vendor and the fee
    (key ``PLATFORM``) in proportion to what they still hold. Sums to ``amount``."""
    return split(amount, {**settled, "PLATFORM": fee})


def balance(entries: list[LedgerEntry]) -> dict[str, int]:
    """The ledger of one order summed: captured, refunded (less refunds that failed after they
    were made), disputed (charged back, less what was reinstated), settled (vendors), fees (the
    platform's), and Stripe's own fees (a cost, outside the balance)."""
    sign = {
        "CHARGE": ("captured", 1),
        "REFUND": ("refunded", 1),
        "REFUND_FAILED": ("refunded", -1),
        "DISPUTE": ("disputed", 1),
        "DISPUTE_REVERSAL": ("disputed", -1),
        "SETTLEMENT": ("settled", 1),
        "SETTLEMENT_REVERSAL": ("settled", -1),
        "FEE": ("fees", 1),
        "FEE_REVERSAL": ("fees", -1),
        "DISPUTE_FEE": ("stripeFees", 1),
        "STRIPE_FEE": ("stripeFees", 1),
    }
    out = {"captured": 0, "refunded": 0, "disputed": 0, "settled": 0, "fees": 0, "stripeFees": 0}
    for e in entries:
        if e.kind in sign:
            field, k = sign[e.kind]
            out[field] += k * e.amount
    return out


def balanced(entries: list[LedgerEntry]) -> bool:
    """Settled to vendors + the platform's fees = captured - refunded - disputed, or nothing
    settled yet (Stripe's own fees are the platform's cost, beside this)."""
    b = balance(entries)
    settled_any = any(e.kind in ("SETTLEMENT", "FEE") for e in entries)
    net = b["captured"] - b["refunded"] - b["disputed"]
    return b["settled"] + b["fees"] == net if settled_any else True


# -- Stripe events -------------------------------------------------------------------------------
# What a Stripe event may make of our payment, and from which states (never backwards).
EVENT_TARGET = {
    "payment_intent.succeeded": SUCCEEDED,
    "payment_intent.payment_failed": FAILED,
    "payment_intent.requires_action": REQUIRES_ACTION,
}


def event_moves(event_type: str, current: str) -> str | None:
    """The status an event moves a payment to, or None when it would not move it forward."""
    target = EVENT_TARGET.get(event_type)
    if target is None or target == current or not can_move(current, target):
        return None
    return target


def mismatch(p: Payment, amount: Any, currency: Any, order_id: Any) -> list[str]:
    """Differences between our payment and what an event says about it."""
    out = []
    if int(amount or -1) != p.amount:
        out.append(f"amount {amount} != {p.amount}")
    if str(currency or "").upper() != p.currency.upper():
        out.append(f"currency {currency} != {p.currency}")
    if order_id != p.order_id:
        out.append(f"metadata.orderId {order_id} != {p.order_id}")
    return out


# -- Stripe events -----------------------------------------------------------------------------
MAX_EVENT_ID = 255  # Stripe's ids are ~30 characters; ours become idempotency keys (2 KB at most)
MAX_EVENT_TYPE = 100


def event_problem(event: Any) -> str | None:
    """What makes a (signed) body not a Stripe event we can apply, or None."""
    if not isinstance(event, dict):
        return "the event is not a JSON object"
    eid, kind = event.get("id"), event.get("type")
    if not isinstance(eid, str) or not 0 < len(eid) <= MAX_EVENT_ID:
        return f"id must be a string of 1 to {MAX_EVENT_ID} characters"
    if not isinstance(kind, str) or not 0 < len(kind) <= MAX_EVENT_TYPE:
        return f"type must be a string of 1 to {MAX_EVENT_TYPE} characters"
    data = event.get("data", {})
    if not isinstance(data, dict) or not isinstance(data.get("object", {}), dict):
        return "data.object must be an object"
    obj = data.get("object") or {}
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return "data.object.metadata must be an object"
    for name in ("amount", "amount_refunded"):
        value = obj.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return f"data.object.{name} must be an integer (minor units)"
    txns = obj.get("balance_transactions")
    if txns is not None and (
        not isinstance(txns, list)
        or not all(
            isinstance(t, dict)
            and all(isinstance(t.get(k, 0), int) and not isinstance(t.get(k), bool) for k in ("amount", "fee"))
            for t in txns
        )
    ):
        return "data.object.balance_transactions must be a list of objects with integer amount and fee"
    for name, value in [("id", obj.get("id")), ("payment_intent", obj.get("payment_intent"))] + [
        (f"metadata.{k}", v) for k, v in (metadata or {}).items() if k in ("orderId", "paymentId")
    ]:
        if value is not None and (not isinstance(value, str) or len(value) > MAX_EVENT_ID):
            return f"data.object.{name} must be a string of at most {MAX_EVENT_ID} characters"
    return None


# -- reconciliation with Stripe -----------------------------------------------------------------
# What each kind of ledger entry should see at Stripe. A refund still ``pending`` at Stripe is
# money on its way back, as our ledger says; ``failed``/``canceled`` means it never left.
STRIPE_OK = {"CHARGE": frozenset({"succeeded"}), "REFUND": frozenset({"succeeded", "pending"})}
STRIPE_OBJECT = {"CHARGE": "payment_intent", "REFUND": "refund"}
MISSING_LEDGER, MISSING_STRIPE = "missing_in_ledger", "missing_at_stripe"
AMOUNT, STATUS, CURRENCY = "amount_mismatch", "status_mismatch", "currency_mismatch"


def day_window(day: str) -> tuple[int, int]:
    """[start, end) of a UTC day ``YYYY-MM-DD`` in epoch seconds."""
    from datetime import UTC, datetime, timedelta

    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return int(start.timestamp()), int((start + timedelta(days=1)).timestamp())


def stripe_id(entry: LedgerEntry) -> str | None:
    """The Stripe object a CHARGE or REFUND ledger entry records."""
    return entry.intent_id if entry.kind == "CHARGE" else entry.stripe_refund_id


def reconciled_entries(entries: list[LedgerEntry]) -> list[LedgerEntry]:
    """The entries that mirror a Stripe object: charges and refunds that moved money (fees,
    settlements and their reversals are ours alone)."""
    return [e for e in entries if e.kind in STRIPE_OBJECT and e.amount > 0]


def _row(
    difference: str, entry: LedgerEntry | None, record: dict[str, Any] | None, object_: str, id_: str | None
) -> dict[str, Any]:
    return {
        "difference": difference,
        "object": object_,
        "stripeId": id_,
        "orderId": (entry.order_id if entry else None) or (record or {}).get("orderId"),
        "ledgerAmount": entry.amount if entry else None,
        "stripeAmount": int(record["amount"]) if record else None,
        "ledgerCurrency": entry.currency.upper() if entry else None,
        "stripeCurrency": str(record["currency"]).upper() if record else None,
        "stripeStatus": record["status"] if record else None,
    }


def balance_row(difference: str, entry: LedgerEntry | None, txn: dict[str, Any]) -> dict[str, Any]:
    """A difference between a charge's balance transaction at Stripe and our CHARGE entry."""
    record = {"amount": txn["amount"], "currency": txn["currency"], "status": "available", "orderId": None}
    row = _row(difference, entry, record, "balance_transaction", str(txn["id"]))
    return {**row, "orderId": row["orderId"] or None}


def payment_differences(
    entries: list[LedgerEntry],
    stripe: dict[str, dict[str, Any]],
    in_window: set[str],
    recorded_elsewhere: set[str],
) -> list[dict[str, Any]]:
    """Every difference between one day's ledger and Stripe.

    ``entries``: the day's ledger; ``stripe``: Stripe's records by id (those created that day,
    plus those the day's entries name, fetched by id); ``in_window``: ids created that day;
    ``recorded_elsewhere``: ids of that day's Stripe objects our ledger records on another day
    (a charge confirmed just after midnight). One row per difference, several per object if
    several fields differ."""
    out: list[dict[str, Any]] = []
    recorded: set[str] = set()
    for entry in reconciled_entries(entries):
        kind, id_ = entry.kind, stripe_id(entry)
        object_ = STRIPE_OBJECT[kind]
        record = stripe.get(id_) if id_ else None
        if id_:
            recorded.add(id_)
        if record is None:
            out.append(_row(MISSING_STRIPE, entry, None, object_, id_))
            continue
        if record["status"] not in STRIPE_OK[kind]:
            out.append(_row(STATUS, entry, record, object_, id_))
        if int(record["amount"]) != entry.amount:
            out.append(_row(AMOUNT, entry, record, object_, id_))
        if str(record["currency"]).upper() != entry.currency.upper():
            out.append(_row(CURRENCY, entry, record, object_, id_))
    kinds = {v: k for k, v in STRIPE_OBJECT.items()}
    for id_ in sorted(in_window - recorded - recorded_elsewhere):
        found = stripe[id_]
        missing = kinds.get(found["object"])
        if missing and found["status"] in STRIPE_OK[missing] and int(found["amount"]) > 0:  # money moved
            out.append(_row(MISSING_LEDGER, None, found, found["object"], id_))
    return out


def ledger_totals(entries: list[LedgerEntry], day: str) -> dict[str, dict[str, int]]:
    """The money the ledger recorded on ``day``, per currency (never summed across currencies):
    charged and refunded (their counts too), the platform's fees net of reversals, and net =
    charged - refunded."""
    rows: dict[str, dict[str, int]] = {}
    for e in entries:
        if e.day != day:
            continue
        row = rows.setdefault(
            e.currency,
            {"charged": 0, "refunded": 0, "net": 0, "fees": 0, "charges": 0, "refunds": 0, "entries": 0},
        )
        amount, kind = e.amount, e.kind
        row["entries"] += 1
        if kind == "CHARGE":
            row["charged"] += amount
            row["charges"] += 1
        elif kind == "REFUND":
            row["refunded"] += amount
            row["refunds"] += 1
        elif kind == "FEE":
            row["fees"] += amount
        elif kind == "FEE_REVERSAL":
            row["fees"] -= amount
    for row in rows.values():
        row["net"] = row["charged"] - row["refunded"]
    return dict(sorted(rows.items()))
