"""Composition root: services wired to their repositories, built once per container. Domains
that need each other meet here (catalog and vendors ask through small protocols), so no
domain package imports another's service."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from chalicelib.users.auth import AuthService
from chalicelib.users.repo import UsersRepo

if TYPE_CHECKING:
    from chalicelib.catalog.service import CatalogService
    from chalicelib.inventory.service import InventoryService
    from chalicelib.orders.lifecycle import OrderLifecycle
    from chalicelib.orders.placement import OrderPlacement
    from chalicelib.orders.views import OrderViews
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

    return OrderLifecycle(OrdersRepo(), InventoryRepo(), CatalogRepo())


@lru_cache(maxsize=1)
def order_views() -> OrderViews:
    from chalicelib.orders.repo import OrdersRepo
    from chalicelib.orders.views import OrderViews

    return OrderViews(OrdersRepo(), order_lifecycle())


def reset() -> None:
    for factory in (auth, profiles, vendors, catalog, inventory, order_placement, order_lifecycle, order_views):
        factory.cache_clear()
