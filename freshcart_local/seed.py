"""Demo data for a newcomer (`make seed`), loaded through the public API as the admin, so it
obeys every rule the app enforces and survives refactors of the services underneath.

Idempotent: everything is looked up first (products and vendors by name, stock by key, users by
email) and only what is missing is created; a second run creates nothing.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from freshcart_local.stack import StackError

CATEGORY = "dairy"
STOCK = 50

# name -> [(variant name, unit, sku, {currency: minor units})]
PRODUCTS: dict[str, list[tuple[str, str, str, dict[str, int]]]] = {
    "Toned Milk": [
        ("500 ml", "ml", "MILK-TONED-500", {"INR": 2800, "USD": 60}),
        ("1 l", "l", "MILK-TONED-1L", {"INR": 5400, "USD": 110}),
    ],
    "Curd": [
        ("400 g", "g", "CURD-400", {"INR": 3500, "USD": 75}),
        ("1 kg", "kg", "CURD-1KG", {"INR": 8000, "USD": 170}),
    ],
    "Paneer": [("200 g", "g", "PANEER-200", {"INR": 9000, "USD": 190})],
    "Butter": [
        ("100 g", "g", "BUTTER-100", {"INR": 5600, "USD": 120}),
        ("500 g", "g", "BUTTER-500", {"INR": 26000, "USD": 540}),
    ],
    "Ghee": [("500 ml", "ml", "GHEE-500", {"INR": 32000, "USD": 650})],
}

# name -> (city, state, pincode, lat, lng, areas served)
VENDORS: dict[str, tuple[str, str, str, float, float, list[str]]] = {
    "Pune Morning Dairy": ("Pune", "MH", "411001", 18.52, 73.85, ["411001", "411002", "411004"]),
    "Bengaluru Fresh Farms": ("Bengaluru", "KA", "560001", 12.97, 77.59, ["560001", "560034"]),
    "Mumbai Milk Co-op": ("Mumbai", "MH", "400001", 18.94, 72.83, ["400001", "400050"]),
}
VENDOR_WITH_LOGIN = "Pune Morning Dairy"


@dataclass(frozen=True)
class Login:
    role: str
    username: str
    email: str
    password: str


CUSTOMER = Login("customer", "asha", "asha@freshcart.example.com", "Milk-and-honey-7")
MANAGER = Login("manager", "manoj", "manoj@freshcart.example.com", "Approve-orders-7")
VENDOR = Login("vendor", "pune-dairy", "pune-dairy@freshcart.example.com", "Fresh-curd-77")
DRIVER = Login("driver", "dinesh", "dinesh@freshcart.example.com", "Deliver-milk-7")
LOGINS = (CUSTOMER, MANAGER, VENDOR, DRIVER)
CUSTOMER_PROFILE = {"name": "Asha Rao", "phone": "+91 98450 00001"}
CUSTOMER_ADDRESS = {
    "label": "home",
    "line1": "12 FC Road",
    "city": "Pune",
    "state": "MH",
    "pincode": "411004",
    "country": "IN",
    "isDefault": True,
}


class Api:
    """A tiny JSON client over urllib (the CLI must not need more than the standard library)."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310 - local only
        req.add_header("content-type", "application/json")
        if self.token:
            req.add_header("authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise StackError(
                f"the API at {self.base} is not answering ({exc}): start `make run` "
                "(or `make aws` and `chalice local --stage local`)"
            ) from None
        parsed = json.loads(raw) if raw else None
        if status not in ok:
            message = (parsed or {}).get("error", {}).get("message", raw[:200]) if isinstance(parsed, dict) else raw
            raise StackError(f"seed: {method} {path} answered {status}: {message}")
        return parsed

    def pages(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        sep = "&" if "?" in path else "?"
        while True:
            page = self.call("GET", path + (f"{sep}cursor={cursor}" if cursor else ""))
            items += page["items"]
            cursor = page.get("nextCursor")
            if not cursor:
                return items


@dataclass
class Seeded:
    created: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _mailbox_token(endpoint: str, email: str) -> str | None:
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=10) as resp:  # noqa: S310
        data = json.load(resp)
    for msg in reversed(data.get("ses", {}).get("Message", [])):
        if email in msg.get("destinations", {}).get("ToAddresses", []) and msg.get("subject", "").startswith("Confirm"):
            return str(msg["body"]).strip().splitlines()[-1]
    return None


def seed(api_url: str, aws_endpoint: str, admin_email: str, admin_password: str, wait: float = 30) -> Seeded:
    out = Seeded()
    anon = Api(api_url)
    admin = Api(
        api_url, anon.call("POST", "/auth/login", {"email": admin_email, "password": admin_password})["accessToken"]
    )

    # users: register what is missing, verify their email from the local mailbox
    users = {u["email"]: u for u in admin.pages("/users?limit=100")}
    new = []
    for login in LOGINS:
        if login.email not in users:
            anon.call(
                "POST", "/auth/register", {"username": login.username, "email": login.email, "password": login.password}
            )
            new.append(login)
            out.created.append(f"user {login.email}")
    deadline = time.monotonic() + wait
    for login in new:
        token = None
        while token is None and time.monotonic() < deadline:
            token = _mailbox_token(aws_endpoint, login.email)
            if token is None:
                time.sleep(0.3)
        if token is None:
            out.warnings.append(f"no verification email for {login.email} within {wait:.0f}s; it stays unverified")
        else:
            anon.call("POST", "/auth/verify-email", {"token": token})
    if new:
        users = {u["email"]: u for u in admin.pages("/users?limit=100")}
    ids = {login.email: users[login.email]["userId"] for login in LOGINS}

    for staff in (MANAGER, DRIVER):
        if users[staff.email]["role"] != staff.role:
            admin.call("PATCH", f"/users/{ids[staff.email]}/role", {"role": staff.role})
            out.created.append(f"role {staff.role} for {staff.email}")

    customer = admin.call("GET", f"/users/{ids[CUSTOMER.email]}")
    if not customer.get("name") or not customer.get("phone") or not customer.get("addresses"):
        me = Api(
            api_url,
            anon.call("POST", "/auth/login", {"email": CUSTOMER.email, "password": CUSTOMER.password})["accessToken"],
        )
        if not customer.get("name") or not customer.get("phone"):
            me.call("PATCH", "/users/me", CUSTOMER_PROFILE)
            out.created.append("customer profile")
        if not customer.get("addresses"):
            me.call("POST", "/users/me/addresses", CUSTOMER_ADDRESS)
            out.created.append("customer address")

    # catalog
    products = {p["name"]: p for p in admin.pages(f"/products?category={CATEGORY}&limit=100")}
    for name, variants in PRODUCTS.items():
        if name in products:
            continue
        product = {
            "name": name,
            "category": CATEGORY,
            "description": f"Fresh {name.lower()} from local dairies.",
            "variants": [{"name": v, "unit": u, "sku": sku, "prices": prices} for v, u, sku, prices in variants],
        }
        products[name] = admin.call("POST", "/products", product)
        out.created.append(f"product {name}")
    product_ids = [products[name]["productId"] for name in PRODUCTS]

    # vendors, one of them owned by the vendor login
    vendors = {v["name"]: v for v in admin.pages("/vendors/all?limit=100")}
    for name, (city, state, pincode, lat, lng, areas) in VENDORS.items():
        if name in vendors:
            continue
        slug = name.lower().replace(" ", "-")
        body: dict[str, Any] = {
            "name": name,
            "contact": {"email": f"{slug}@vendors.freshcart.example.com", "phone": "+91 80 4000 0000"},
            "address": {
                "line1": "1 Market Road",
                "city": city,
                "state": state,
                "pincode": pincode,
                "country": "IN",
                "lat": lat,
                "lng": lng,
            },
            "serviceAreas": areas,
            "products": product_ids,
            "capacity": {"dailyOrderLimit": 200},
            "rating": 4.5,
        }
        if name == VENDOR_WITH_LOGIN:
            body["ownerUserId"] = ids[VENDOR.email]
        vendors[name] = admin.call("POST", "/vendors", body)
        out.created.append(f"vendor {name}")

    # stock: every variant at every vendor
    for vendor in vendors.values():
        if vendor["name"] not in VENDORS:
            continue
        have = {
            (s["productId"], s["variantId"]) for s in admin.pages(f"/inventory?vendorId={vendor['vendorId']}&limit=100")
        }
        for name in PRODUCTS:
            for variant in products[name]["variants"]:
                key = (products[name]["productId"], variant["variantId"])
                if key in have:
                    continue
                admin.call(
                    "POST",
                    "/inventory/adjust",
                    {
                        "productId": key[0],
                        "variantId": key[1],
                        "vendorId": vendor["vendorId"],
                        "set": STOCK,
                        "reason": "demo seed",
                    },
                )
                out.created.append(f"stock {name} {variant['name']} at {vendor['name']}")
    return out


def describe(result: Seeded) -> str:
    lines = [
        f"seeded: {len(result.created)} created" + (" (already seeded: nothing to do)" if not result.created else "")
    ]
    lines += [f"  warning: {w}" for w in result.warnings]
    lines.append("demo logins:")
    lines += [f"  {login.role:<9} {login.email} / {login.password}" for login in LOGINS]
    lines.append(f"  pincodes with vendors: {', '.join(sorted({a for v in VENDORS.values() for a in v[5]}))}")
    return "\n".join(lines)
