"""vendors: who delivers where, what they offer and how many orders a day they take."""

from __future__ import annotations

from chalicelib.core import patterns
from chalicelib.core.openapi import PAGE, Op, Param
from chalicelib.core.schema import Instant, Page, View
from chalicelib.vendors.models import Capacity, Contact, VendorAddress

TAG = "vendors"
M = "chalicelib.vendors.models"
C = "chalicelib.vendors.contract"


class Vendor(View):
    vendorId: str
    name: str
    contact: Contact
    address: VendorAddress
    serviceAreas: list[str]
    products: list[str]
    capacity: Capacity
    rating: float
    ownerUserId: str | None = None
    active: bool
    version: int
    createdAt: Instant
    updatedAt: Instant


class VendorPage(Page):
    items: list[Vendor]


class VendorCard(View):
    vendorId: str
    name: str
    rating: float


class VendorCards(View):
    items: list[VendorCard]


PINCODE = Param("pincode", {"type": "string", "pattern": patterns.PINCODE}, required=True)

ROUTES: dict[tuple[str, str], Op] = {
    ("GET", "/vendors"): Op(f"{C}:VendorCards", query=(PINCODE,)),
    ("GET", "/vendors/all"): Op(f"{C}:VendorPage", query=PAGE, roles=("admin",)),
    ("POST", "/vendors"): Op(f"{C}:Vendor", 201, f"{M}:VendorBody", roles=("admin",), errors=(409, 422)),
    ("GET", "/vendors/me"): Op(f"{C}:Vendor", roles=("vendor",)),
    ("GET", "/vendors/{vendor_id}"): Op(f"{C}:Vendor", roles=("admin", "vendor")),
    ("PATCH", "/vendors/{vendor_id}"): Op(
        f"{C}:Vendor", body=f"{M}:VendorAdminPatch", roles=("admin", "vendor"), errors=(409, 422)
    ),
    ("POST", "/vendors/{vendor_id}/deactivate"): Op(f"{C}:Vendor", roles=("admin",), errors=(409,)),
    ("POST", "/vendors/{vendor_id}/activate"): Op(f"{C}:Vendor", roles=("admin",), errors=(409,)),
}
