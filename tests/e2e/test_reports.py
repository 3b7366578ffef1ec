"""The daily report over HTTP against the real local stack: an order placed and paid, then
`make job NAME=daily_report DATE=<today>` (the CLI), the JSON, the page and the email."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests

from tests.e2e import harness
from tests.e2e.test_payments import PRICE, Payments, env  # noqa: F401 - the module's fixtures


def test_the_daily_report_of_today_after_a_paid_order(env: Payments, stack: dict[str, Any]) -> None:  # noqa: F811
    shop = env.shop("Report Milk")
    order = shop.order(3)
    assert shop.pay(order["orderId"]).status_code == 202
    shop.order_until(order["orderId"], {"PAID"})
    today = datetime.now(UTC).date().isoformat()
    job = harness.cli("run-job", "daily_report", "--date", today, home=stack["_home"], timeout=120)
    assert job.returncode == 0, job.stderr
    assert f'"date": "{today}"' in job.stdout

    r = requests.get(f"{env.api}/reports/daily", params={"date": today}, headers=env.manager, timeout=30)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["totalOrders"] >= 1 and report["currencies"]["INR"]["gross"] >= PRICE * 3
    assert any(p["units"] >= 3 for p in report["byProduct"])
    page = requests.get(f"{env.api}/reports/daily/{today}/page", headers=env.manager, timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<svg" in page.text and "Report Milk" in page.text
    assert requests.get(f"{env.api}/reports/daily/{today}/page", headers=shop.customer, timeout=30).status_code == 403

    body = harness.mailbox(stack["aws_endpoint"], stack["admin"]["email"], f"Daily Summary - {today}")
    assert "Top products:" in body and f"{env.api}/reports/daily/{today}/page" in body
