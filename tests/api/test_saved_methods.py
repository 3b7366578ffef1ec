"""Saved cards: a SetupIntent confirmed by the customer saves the card on their Stripe Customer;
one default; only your own cards are listed, chosen or removed."""

from __future__ import annotations

from typing import Any

from chalicelib.payments import gateway
from tests.conftest import Api, json_body


def _card(number: str) -> str:
    card = {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    return str(gateway.client().payment_methods.create(params={"type": "card", "card": card}).id)


def _save(api: Api, token: str, method: str = "pm_card_visa") -> dict[str, Any]:
    resp = api.call("POST", "/users/me/payment-methods", {}, token=token)
    assert resp.status_code == 201, resp.body
    started = json_body(resp)
    # what Stripe.js does in the customer's browser
    gateway.client().setup_intents.confirm(started["setupIntentId"], params={"payment_method": method})
    return started


def test_a_confirmed_card_is_listed_defaulted_and_removed_by_its_owner_only(
    api: Api, stripe_env: dict[str, Any]
) -> None:
    ann = api.user("ann")["accessToken"]
    bob = api.user("bob")["accessToken"]
    assert json_body(api.call("GET", "/users/me/payment-methods", token=ann)) == {"items": []}
    started = _save(api, ann)
    assert started["clientSecret"].startswith(started["setupIntentId"])
    (card,) = json_body(api.call("GET", "/users/me/payment-methods", token=ann))["items"]
    assert (card["brand"], card["last4"], card["default"]) == ("visa", "4242", True)  # the only one
    _save(api, ann, _card("5555555555554444"))  # a Mastercard
    cards = json_body(api.call("GET", "/users/me/payment-methods", token=ann))["items"]
    assert [c["default"] for c in cards].count(True) == 1 and len(cards) == 2
    other = next(c for c in cards if not c["default"])
    chosen = json_body(api.call("POST", f"/users/me/payment-methods/{other['paymentMethodId']}/default", token=ann))
    assert [c["paymentMethodId"] for c in chosen["items"] if c["default"]] == [other["paymentMethodId"]]
    assert api.call("DELETE", f"/users/me/payment-methods/{other['paymentMethodId']}", token=bob).status_code == 404
    assert (
        api.call("POST", f"/users/me/payment-methods/{card['paymentMethodId']}/default", token=bob).status_code == 404
    )
    assert api.call("DELETE", f"/users/me/payment-methods/{other['paymentMethodId']}", token=ann).status_code == 204
    left = json_body(api.call("GET", "/users/me/payment-methods", token=ann))["items"]
    assert [(c["paymentMethodId"], c["default"]) for c in left] == [(card["paymentMethodId"], True)]
    assert json_body(api.call("GET", "/users/me/payment-methods", token=bob)) == {"items": []}
