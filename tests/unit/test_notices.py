"""Who each event tells, and by which channels (pure)."""

from __future__ import annotations

from chalicelib.notifications.notices import NOTICES, channels, money, notices

DELIVERY = {"orderId": "o1", "userId": "u1", "driverId": "d1", "deliveryDate": "2030-01-02", "deliverySlot": "MORNING"}


def test_every_step_has_its_recipient() -> None:
    assert [(n.to, n.title) for n in notices("DeliveryInTransit", DELIVERY)] == [("user:u1", "Out for delivery")]
    assert [(n.to, n.category) for n in notices("DeliveryAssigned", DELIVERY)] == [("driver:d1", "deliveries")]
    assert "morning of 2030-01-02" in notices("DeliveryScheduled", DELIVERY)[0].text
    failed = notices("DeliveryFailed", {**DELIVERY, "failureReason": "nobody home"})[0]
    assert "nobody home" in failed.text
    held = notices("PaymentHeld", {"orderId": "o1", "userId": "u1"})
    assert [n.to for n in held] == ["managers"]
    refund = notices("RefundSucceeded", {"orderId": "o1", "userId": "u1", "amount": 150050, "currency": "INR"})[0]
    assert "INR 1,500.50" in refund.text and refund.category == "payments"
    retry = notices("PaymentFailed", {"orderId": "o1", "userId": "u1", "why": "declined"})[0]
    assert "POST /orders/o1/pay" in retry.text  # the way back to paying
    assert notices("OrderPlaced", {"orderId": "o1", "userId": "u1", "subscriptionId": "s1"}) == []  # its own notice
    assert notices("SomethingElse", {}) == [] and {"OrderPlaced", "OrderCancelled", "OrderExpired"} <= set(NOTICES)


def test_each_vendor_is_told_its_own_lines_only() -> None:
    lines = {
        "v1": [{"productId": "p1", "name": "Milk", "quantity": 2, "variantName": "1L"}],
        "v2": [{"productId": "p2", "name": "Ghee", "quantity": 1}],
    }
    told = notices(
        "OrderPaid", {"orderId": "o1", "vendorLines": lines, "deliveryDate": "2030-01-02", "deliverySlot": "EVENING"}
    )
    assert [(n.to, n.title) for n in told] == [("vendor:v1", "New Order Assigned"), ("vendor:v2", "New Order Assigned")]
    assert "2 x Milk 1L" in told[0].text and "Ghee" not in told[0].text and "evening of 2030-01-02" in told[0].text


def test_transactional_email_stays_on_and_the_rest_is_opt_in() -> None:
    assert channels("orders", {}) == ["email"]
    assert channels("orders", {"notifications": {"orders": {"email": False, "sms": True}}}) == ["email", "sms"]
    assert channels("marketing", {"notifications": {"marketing": {"email": False}}}) == []
    assert channels("marketing", {"notifications": {"marketing": {"push": True}}}) == ["push"]
    assert money(500, "JPY") == "JPY 500" and money(5, "USD") == "USD 0.05"


def test_an_email_has_its_text_as_escaped_html_too() -> None:
    from chalicelib.notifications.mailer import as_html

    page = as_html("Order <placed>", "Hi Ann,\n\nYour order <o1> & more\nis placed.")
    assert "<title>Order &lt;placed&gt;</title>" in page
    assert "<p>Hi Ann,</p><p>Your order &lt;o1&gt; &amp; more<br>is placed.</p>" in page


def test_the_local_mailbox_shows_an_html_email_as_its_text() -> None:
    from chalicelib.notifications.mailer import as_html
    from freshcart_local.__main__ import readable

    assert readable(as_html("Paid", "We received your payment of INR 56.00.\n\nThanks")) == (
        "We received your payment of INR 56.00.\n\nThanks\n\nfreshcart"
    )
    assert readable("plain text\nstays") == "plain text\nstays"
