"""Composition root: services wired to their repositories, built once per container."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from chalicelib.users.repo import UsersRepo
from chalicelib.users.service import UserService

if TYPE_CHECKING:
    from chalicelib.catalog.service import CatalogService
    from chalicelib.inventory.service import InventoryService
    from chalicelib.orders.service import OrderService
    from chalicelib.vendors.service import VendorService


@lru_cache(maxsize=1)
def users() -> UserService:
    return UserService(UsersRepo())


# Commerce services are imported on first use: the authorizer and /users routes skip them.
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
def orders() -> OrderService:
    from chalicelib.catalog.repo import CatalogRepo
    from chalicelib.inventory.repo import InventoryRepo
    from chalicelib.orders.repo import OrdersRepo
    from chalicelib.orders.service import OrderService
    from chalicelib.vendors.repo import VendorsRepo

    return OrderService(OrdersRepo(), CatalogRepo(), VendorsRepo(), InventoryRepo(), UsersRepo())


def reset() -> None:
    for factory in (users, vendors, catalog, inventory, orders):
        factory.cache_clear()
