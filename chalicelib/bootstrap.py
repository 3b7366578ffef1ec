"""Composition root: services wired to their repositories, built once per container."""

from __future__ import annotations

from functools import lru_cache

from chalicelib.users.repo import UsersRepo
from chalicelib.users.service import UserService


@lru_cache(maxsize=1)
def users() -> UserService:
    return UserService(UsersRepo())


def reset() -> None:
    users.cache_clear()
