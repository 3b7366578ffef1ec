"""Subscriptions: kept by their customer (validated as orders are), turned into orders by the daily
job (exactly one per subscription and date, however often or concurrently it runs), paid
off-session with the default saved card through the normal checkout; skipped dates and unpaid
ones told; three unpaid dates in a row pause it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.core.config import get_settings
from chalicelib.deliveries import slots
from chalicelib.payments import gateway
from tests.api.test_payments import Checkout
from tests.conftest import Api, json_body, race


def _day(n: int) -> str:
    return (slots.policy().local(datetime.now(UTC)).date() + timedelta(days=n)).isoformat()


def _body(shop: Checkout, **extra: Any) -> dict[str, Any]:
    """A DAILY subscription of 2 milk for the mornings from tomorrow, to the customer's address."""
    return {
        "productId": shop.milk["productId"],
        "variantId": shop.milk["variants"][0]["variantId"],
        "quantity": 2,
        "frequency": "DAILY",
        "deliverySlot": "MORNING",
        "startDate": _day(1),
        "addressId": shop.address,
        **extra,
    }


def _subscribe(shop: Checkout, **extra: Any) -> dict[str, Any]:
    resp = shop.api.call("POST", "/subscriptions", _body(shop, **extra), token=shop.token)
    assert resp.status_code == 201, resp.body
    return dict(json_body(resp))


def _save_card(shop: Checkout) -> str:
    started = json_body(shop.api.call("POST", "/users/me/payment-methods", {}, token=shop.token))
    gateway.client().setup_intents.confirm(started["setupIntentId"], params={"payment_method": "pm_card_visa"})
    (card,) = json_body(shop.api.call("GET", "/users/me/payment-methods", token=shop.token))["items"]
    return str(card["paymentMethodId"])


def _orders(shop: Checkout, sub_id: str) -> list[dict[str, Any]]:
    items = json_body(shop.api.call("GET", "/orders?limit=100", token=shop.token))["items"]
    return [o for o in items if o.get("subscriptionId") == sub_id]


@pytest.mark.parametrize(
    ("extra", "status", "field"),
    [
        ({"frequency": "WEEKLY"}, 422, "weekdays"),
        ({"weekdays": [1]}, 422, "weekdays"),
        ({"startDate": "2020-01-01"}, 422, "startDate"),
        ({"endDate": "2020-01-01"}, 422, "endDate"),
        ({"frequency": "HOURLY"}, 400, "frequency"),
        ({"quantity": 0}, 400, "quantity"),
        ({"addressId": "nope"}, 404, "addressId"),
    ],
)
def test_a_bad_subscription_is_refused_naming_the_field(
    checkout: Checkout, extra: dict[str, Any], status: int, field: str
) -> None:
    body = _body(checkout, **{"quantity": 1, **extra})
    resp = checkout.api.call("POST", "/subscriptions", body, token=checkout.token)
    assert resp.status_code == status, resp.body
    assert field in json_body(resp)["error"].get("fields", {}), resp.body


def test_a_vacation_a_skip_and_a_resume_move_the_next_date(checkout: Checkout) -> None:
    sub = _subscribe(checkout)
    sid = sub["subscriptionId"]
    assert (sub["status"], sub["nextDate"]) == ("ACTIVE", _day(1))
    paused = checkout.ok("POST", f"/subscriptions/{sid}/pause", {"from": _day(1), "to": _day(3)}, token=checkout.token)
    assert paused["nextDate"] == _day(4)
    skipped = checkout.ok("POST", f"/subscriptions/{sid}/skip", {"date": _day(4)}, token=checkout.token)
    assert skipped["nextDate"] == _day(5) and skipped["skips"] == [_day(4)]
    resumed = checkout.ok("POST", f"/subscriptions/{sid}/resume", {}, token=checkout.token)
    assert resumed["nextDate"] == _day(1) and resumed["pauses"] == []  # the vacation in progress is over
    changed = checkout.ok("PATCH", f"/subscriptions/{sid}", {"quantity": 3}, token=checkout.token)
    assert changed["quantity"] == 3
    dated = checkout.ok(
        "PATCH", f"/subscriptions/{sid}", {"deliverySlot": "EVENING", "fromDate": _day(5)}, token=checkout.token
    )
    assert dated["deliverySlot"] == "MORNING" and dated["changes"] == [{"from": _day(5), "deliverySlot": "EVENING"}]
    empty = checkout.api.call("PATCH", f"/subscriptions/{sid}", {"fromDate": _day(5)}, token=checkout.token)
    assert empty.status_code == 422
    other = checkout.api.user("eve")["accessToken"]
    assert checkout.api.call("GET", f"/subscriptions/{sid}", token=other).status_code == 404
    assert checkout.api.call("DELETE", f"/subscriptions/{sid}", token=other).status_code == 404
    cancelled = checkout.ok("DELETE", f"/subscriptions/{sid}", token=checkout.token)
    assert cancelled["status"] == "CANCELLED" and "nextDate" not in cancelled
    again = checkout.api.call("POST", f"/subscriptions/{sid}/skip", {"date": _day(6)}, token=checkout.token)
    assert again.status_code == 409
    listed = json_body(checkout.api.call("GET", "/subscriptions", token=checkout.token))["items"]
    assert [s["subscriptionId"] for s in listed] == [sid]


def test_the_job_places_one_order_per_date_and_pays_it_off_session_however_often_it_runs(checkout: Checkout) -> None:
    card = _save_card(checkout)
    sub = _subscribe(checkout)
    sid, day = sub["subscriptionId"], _day(1)
    job = bootstrap.subscriptions()
    results = race(*[lambda: job.place_due(day) for _ in range(4)])  # two instances overlap, and run again
    assert sum(r.get("placed", 0) for r in results) >= 1
    (order,) = _orders(checkout, sid)
    assert (order["deliveryDate"], order["deliverySlot"], order["lines"][0]["quantity"]) == (day, "MORNING", 2)
    paid = checkout.payment(order["orderId"], {"SUCCEEDED", "FAILED", "REFUNDED"})
    assert paid["status"] == "SUCCEEDED" and paid["amount"] == order["total"]
    checkout.finished(order["orderId"])
    intent = gateway.client().payment_intents.retrieve(paid["paymentIntentId"]).to_dict()
    assert intent["payment_method"] == card and intent["customer"]  # the saved card, off-session
    assert len([pi for pi in checkout.stripe_intents(order["orderId"])]) == 1
    assert job.place_due(day) == {}  # not due any more: the next date moved on
    now = checkout.ok("GET", f"/subscriptions/{sid}", token=checkout.token)
    assert now["nextDate"] == _day(2) and now["failedDates"] == 0


def test_a_date_without_stock_is_skipped_and_the_customer_told(checkout: Checkout) -> None:
    _save_card(checkout)
    sub = _subscribe(checkout, quantity=50)  # more than the vendor has
    assert bootstrap.subscriptions().place_due(_day(1)) == {"skipped": 1}
    assert _orders(checkout, sub["subscriptionId"]) == []
    now = checkout.ok("GET", f"/subscriptions/{sub['subscriptionId']}", token=checkout.token)
    assert now["nextDate"] == _day(2) and now["status"] == "ACTIVE"


def test_three_unpaid_dates_in_a_row_pause_the_subscription(checkout: Checkout) -> None:
    from tests.api.test_payments import expire_reservation

    sub = _subscribe(checkout)  # no saved card: nothing can pay its orders
    job = bootstrap.subscriptions()
    for n in (1, 2, 3):
        assert job.place_due(_day(n)) == {"no card": 1}
        (unpaid,) = [o for o in _orders(checkout, sub["subscriptionId"]) if o["deliveryDate"] == _day(n)]
        assert job.place_due(_day(n)) == {}  # not counted twice
        expire_reservation(unpaid["orderId"])  # a day later its 15-minute hold is long over
        bootstrap.order_lifecycle().sweep()
    assert job.place_due(_day(4)) == {"paused": 1}
    now = checkout.ok("GET", f"/subscriptions/{sub['subscriptionId']}", token=checkout.token)
    assert (now["status"], now["failedDates"]) == ("PAUSED", 3) and "nextDate" not in now
    assert len(_orders(checkout, sub["subscriptionId"])) == 3
    resumed = checkout.ok("POST", f"/subscriptions/{sub['subscriptionId']}/resume", {}, token=checkout.token)
    assert (resumed["status"], resumed["failedDates"]) == ("ACTIVE", 0)


def test_due_subscriptions_are_read_from_their_date_alone(api: Api, checkout: Checkout) -> None:
    _subscribe(checkout, startDate=_day(5))
    assert bootstrap.subscriptions().repo.due(_day(1), 100, None) == ([], None)
    assert len(bootstrap.subscriptions().repo.due(_day(5), 100, None)[0]) == 1
    assert date.fromisoformat(_day(5))


def test_a_declined_subscription_payment_is_tried_once_more_later_the_same_day(checkout: Checkout) -> None:
    started = json_body(checkout.api.call("POST", "/users/me/payment-methods", {}, token=checkout.token))
    card = {"number": "4000000000000341", "exp_month": 12, "exp_year": 2030, "cvc": "123"}  # saved; charges decline
    declining = gateway.client().payment_methods.create(params={"type": "card", "card": card}).id
    gateway.client().setup_intents.confirm(started["setupIntentId"], params={"payment_method": declining})
    sub = _subscribe(checkout)
    job, day = bootstrap.subscriptions(), _day(1)
    assert job.place_due(day) == {"placed": 1}
    (order,) = _orders(checkout, sub["subscriptionId"])
    assert checkout.payment(order["orderId"], {"FAILED", "SUCCEEDED"})["status"] == "FAILED"
    checkout.finished(order["orderId"])
    started = json_body(checkout.api.call("POST", "/users/me/payment-methods", {}, token=checkout.token))
    gateway.client().setup_intents.confirm(started["setupIntentId"], params={"payment_method": "pm_card_visa"})
    cards = json_body(checkout.api.call("GET", "/users/me/payment-methods", token=checkout.token))["items"]
    visa = next(c for c in cards if not c["default"])
    checkout.ok("POST", f"/users/me/payment-methods/{visa['paymentMethodId']}/default", token=checkout.token)
    assert job.retry_due(day) == {"retried": 1}
    paid = checkout.payment(order["orderId"], {"SUCCEEDED"})
    assert paid["status"] == "SUCCEEDED" and [a["status"] for a in paid["attempts"]] == ["FAILED", "SUCCEEDED"]
    checkout.finished(order["orderId"])
    assert job.retry_due(day) == {}  # once
    assert [o["orderId"] for o in _orders(checkout, sub["subscriptionId"])] == [order["orderId"]]


def test_an_off_session_charge_the_bank_wants_confirmed_tells_the_customer_how(checkout: Checkout) -> None:
    """A saved card whose bank asks for 3-D Secure again: the payment waits for the customer
    (REQUIRES_ACTION, with its clientSecret) and they are told to confirm it before the cut-off."""
    from moto.backends import get_backend

    from chalicelib.payments.wallet import StripeWallet

    me = checkout.ok("GET", "/users/me", token=checkout.token)
    customer = StripeWallet().create_customer(me["userId"], me["email"])
    bootstrap.saved_methods().payments.put_customer(me["userId"], customer)
    card = {"number": "4000002760003184", "exp_month": 12, "exp_year": 2030, "cvc": "123"}  # 3-D Secure always
    pm = gateway.client().payment_methods.create(params={"type": "card", "card": card})
    gateway.client().payment_methods.attach(pm.id, params={"customer": customer})
    sub = _subscribe(checkout)
    assert bootstrap.subscriptions().place_due(_day(1)) == {"placed": 1}
    (order,) = _orders(checkout, sub["subscriptionId"])
    waiting = checkout.payment(order["orderId"], {"REQUIRES_ACTION", "FAILED", "SUCCEEDED"})
    assert waiting["status"] == "REQUIRES_ACTION" and waiting["clientSecret"], waiting
    held = checkout.ok("GET", f"/orders/{order['orderId']}", token=checkout.token)["reservation"]["expiresAt"]
    cutoff = slots.policy().cutoff_at(date.fromisoformat(_day(1)), "MORNING").timestamp()
    assert held >= int(cutoff) - 5  # held until the slot's cut-off, not the usual 15 minutes
    checkout.drain(get_settings().notifications_queue, "handle_notifications")
    sent = [
        m for m in get_backend("ses")["123456789012"]["us-east-1"].sent_messages if me["email"] in str(m.destinations)
    ]
    assert "Confirm your payment - freshcart" in [m.subject for m in sent]


def test_a_week_of_daily_and_alternate_with_a_vacation_and_a_skip_orders_the_right_dates(checkout: Checkout) -> None:
    """Days 1-7: DAILY with days 3-4 away and day 6 skipped orders days 1, 2, 5, 7; ALTERNATE from
    day 1 with day 3 skipped orders days 1, 5, 7. The job runs twice each day, the second time
    as two overlapping runs: still one order per subscription and date, each paid."""
    _save_card(checkout)
    daily = _subscribe(checkout, quantity=1)  # 7 units in all: within the vendor's stock
    alternate = _subscribe(checkout, quantity=1, frequency="ALTERNATE", deliverySlot="EVENING")
    tok = checkout.token
    checkout.ok("POST", f"/subscriptions/{daily['subscriptionId']}/pause", {"from": _day(3), "to": _day(4)}, token=tok)
    checkout.ok("POST", f"/subscriptions/{daily['subscriptionId']}/skip", {"date": _day(6)}, token=tok)
    checkout.ok("POST", f"/subscriptions/{alternate['subscriptionId']}/skip", {"date": _day(3)}, token=tok)
    job = bootstrap.subscriptions()
    for n in range(1, 8):
        job.place_due(_day(n))
        race(lambda n=n: job.place_due(_day(n)), lambda n=n: job.place_due(_day(n)))
    for sub, days in ((daily, [1, 2, 5, 7]), (alternate, [1, 5, 7])):
        orders = _orders(checkout, sub["subscriptionId"])
        assert sorted(o["deliveryDate"] for o in orders) == [_day(n) for n in days]
        for order in orders:
            assert checkout.payment(order["orderId"], {"SUCCEEDED", "FAILED"})["status"] == "SUCCEEDED"
            checkout.finished(order["orderId"])
    assert checkout.ok("GET", f"/subscriptions/{daily['subscriptionId']}", token=tok)["nextDate"] == _day(8)


def test_a_change_after_the_job_placed_tomorrows_order_keeps_the_next_run_finding_it(checkout: Checkout) -> None:
    _save_card(checkout)
    sub = _subscribe(checkout, quantity=1)
    sid, job = sub["subscriptionId"], bootstrap.subscriptions()
    assert job.place_due(_day(1)) == {"placed": 1}
    after = checkout.ok("POST", f"/subscriptions/{sid}/skip", {"date": _day(5)}, token=checkout.token)
    assert after["nextDate"] == _day(2)  # not back to day 1, whose order is placed
    assert job.place_due(_day(2)) == {"placed": 1}
    assert sorted(o["deliveryDate"] for o in _orders(checkout, sid)) == [_day(1), _day(2)]


def test_overlapping_runs_tell_the_customer_once(checkout: Checkout) -> None:
    from moto.backends import get_backend

    _save_card(checkout)
    sub = _subscribe(checkout, quantity=1)
    job = bootstrap.subscriptions()
    race(*[lambda: job.place_due(_day(1)) for _ in range(4)])
    checkout.drain(get_settings().notifications_queue, "handle_notifications")
    me = checkout.ok("GET", "/users/me", token=checkout.token)
    sent = [
        m.subject
        for m in get_backend("ses")["123456789012"]["us-east-1"].sent_messages
        if me["email"] in str(m.destinations)
    ]
    assert sent.count("Subscription order placed - freshcart") == 1, sent
    assert len(_orders(checkout, sub["subscriptionId"])) == 1


def test_a_subscription_left_due_by_a_failed_run_is_taken_by_the_days_second_run(
    checkout: Checkout, monkeypatch: pytest.MonkeyPatch
) -> None:
    _save_card(checkout)
    sub = _subscribe(checkout, quantity=1)
    job = bootstrap.subscriptions()

    def down(user_id: str) -> None:
        raise RuntimeError("Stripe is down")

    with monkeypatch.context() as m:
        m.setattr(job.cards, "default", down)
        assert job.place_due(_day(1)) == {"error": 1}
    assert job.retry_due(_day(1)) == {"placed": 1, "just placed": 1}  # the same order, its payment started now
    (order,) = _orders(checkout, sub["subscriptionId"])
    assert checkout.payment(order["orderId"], {"SUCCEEDED", "FAILED"})["status"] == "SUCCEEDED"
    checkout.finished(order["orderId"])
    assert job.place_due(_day(3)) == {"missed": 1}  # day 2 was never run: moved on, not ordered late


def test_a_subscription_to_an_address_no_vendor_serves_is_refused(checkout: Checkout) -> None:
    far = checkout.ok(
        "POST",
        "/users/me/addresses",
        {"label": "cabin", "line1": "1 Hill Rd", "city": "Shimla", "state": "HP", "pincode": "171001", "country": "IN"},
        token=checkout.token,
        status=201,
    )
    body = _body(checkout, quantity=1, addressId=far["addressId"])
    resp = checkout.api.call("POST", "/subscriptions", body, token=checkout.token)
    assert resp.status_code == 409 and json_body(resp)["error"]["code"] == "not_serviceable"
    assert "addressId" in json_body(resp)["error"]["fields"]
