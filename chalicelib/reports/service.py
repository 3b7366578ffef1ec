"""Building, storing, serving and mailing the daily report.

Reads, for one UTC day: the day's orders (``byDay``, every page), one keys-only COUNT per
customer whose orders do not say whether they were the first (none, for orders placed by this
code), and the active managers and admins. No Scan. The day's money (the ledger per currency and
the drift against Stripe) is the payments domain's: the close its nightly reconciliation stored
(one read), or, if that has not run, the day's ledger entries (``byDay``) without drift. The
low-stock rows are the inventory domain's."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from chalicelib.core import logs
from chalicelib.core.errors import NotFound, ValidationError
from chalicelib.reports import render, rules
from chalicelib.reports.repo import ReportsRepo

log = logs.get_logger("freshcart.reports")
DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
TOP_IN_EMAIL = 5

Rows = list[dict[str, Any]]


class DayOrders(Protocol):
    def day_orders(self, day: str) -> Iterable[dict[str, Any]]: ...
    def ordered_before(self, user_id: str, day: str) -> bool: ...


class Staff(Protocol):
    def staff(self, roles: tuple[str, ...] = ("manager", "admin")) -> list[dict[str, Any]]: ...


def _nothing(day: str) -> Rows:
    return []


def _no_money(day: str) -> dict[str, Any]:
    return {"day": day, "ledger": {}, "drift": [], "reconciled": False}


def parse_day(value: str | None, name: str = "date") -> str:
    """A real calendar date as YYYY-MM-DD, or a 400 naming the field."""
    if value is None:
        raise ValidationError(f"{name} is required", fields={name: "required, e.g. 2030-01-31"})
    if not DATE_RE.match(value):
        raise ValidationError(f"{name} is invalid", fields={name: "a date, e.g. 2030-01-31"})
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValidationError(f"{name} is not a date", fields={name: "not a real date"}) from None


@dataclass
class ReportService:
    orders: DayOrders
    users: Staff
    store: ReportsRepo
    send_mail: Callable[[str, str, str], Any]
    base_url: str = ""
    money: Callable[[str], dict[str, Any]] = field(default=_no_money)  # the payments domain's day
    low_stock: Callable[[str], Rows] = field(default=_nothing)

    def build(self, day: str) -> dict[str, Any]:
        orders = list(self.orders.day_orders(day))
        undecided = rules.undecided_customers(orders)
        before = {u for u in sorted(undecided) if self.orders.ordered_before(u, day)}
        return rules.build(
            day, orders, self.money(day), before, list(self.low_stock(day)), datetime.now(UTC).isoformat()
        )

    def run(self, day: str, email: bool = True) -> dict[str, Any]:
        """Build ``day``'s report and store it (the same keys each time); then mail it."""
        day = parse_day(day)
        report = self.build(day)
        keys = self.store.put(day, report, render.to_csv(report), render.to_html(report))
        sent = self.mail(report) if email else []
        log.info("daily report", extra={"date": day, "orders": report["totalOrders"], "emailed": len(sent)})
        return {"date": day, "orders": report["totalOrders"], "keys": keys, "emailed": len(sent)}

    def get(self, day: str) -> dict[str, Any]:
        report = self.store.report(parse_day(day))
        if report is None:
            raise _missing(day)
        return report

    def page(self, day: str) -> str:
        page = self.store.page(parse_day(day))
        if page is None:
            raise _missing(day)
        return page

    def link(self, day: str) -> str:
        return f"{self.base_url}/reports/daily/{day}/page"

    def mail(self, report: dict[str, Any]) -> list[str]:
        subject, text = summary_email(report, self.link(report["date"]))
        sent = []
        for user in sorted(self.users.staff(), key=lambda u: str(u["email"])):
            self.send_mail(str(user["email"]), subject, text)
            sent.append(str(user["email"]))
        return sent


def _missing(day: str) -> NotFound:
    return NotFound(
        f"no daily report for {day} (it is built at 01:00 UTC the next day)",
        code="report_not_found",
        fields={"date": f"no report for {day}"},
    )


def summary_email(report: dict[str, Any], link: str) -> tuple[str, str]:
    day = report["date"]

    def amounts(by: dict[str, int]) -> str:
        return "; ".join(render.money(v, c) for c, v in by.items()) or "none"

    lines = [
        f"freshcart daily summary for {day} (UTC)",
        "",
        f"Orders: {report['totalOrders']} placed, {report['chargedOrders']} charged",
        f"Revenue (charged - refunded): {amounts(report['totalRevenue'])}",
        f"Average order value: {amounts(report['averageOrderValue'])}",
        f"Customers: {report['customers']['new']} new, {report['customers']['returning']} returning",
        "",
        "Top products:",
    ]
    top = report["topProducts"][:TOP_IN_EMAIL]
    for i, p in enumerate(top, 1):
        name = f"{p['name']} {p['variantName']}".strip() or p["productId"]
        lines.append(f"  {i}. {name}: {p['units']} units, {amounts(p['sales'])}")
    if not top:
        lines.append("  (nothing sold)")
    lines += [
        "",
        f"Low stock rows: {len(report['lowStock'])}; payment drift: {len(report['paymentDrift'])}"
        + ("" if report["paymentsReconciled"] else " (not reconciled with Stripe yet)"),
        "",
        f"The whole report: {link}",
    ]
    return f"Daily Summary - {day}", "\n".join(lines) + "\n"
