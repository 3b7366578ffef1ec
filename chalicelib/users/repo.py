"""Users in DynamoDB.

Items (one table, ``pk``/``sk``):
- ``USER#<id>`` / ``PROFILE``: the user; ``sessions`` maps session id -> {jti, exp, ...};
  ``tokenVersion`` bumps on every revoke-all; ``version`` guards profile edits.
- ``EMAIL#<lower>`` / ``LOCK`` and ``USERNAME#<lower>`` / ``LOCK``: uniqueness claims written in
  the same transaction as the user, so two concurrent registrations cannot both win.
Listing uses the sparse GSI ``byCreated`` (only profiles carry ``gsi1pk``), never a Scan.
"""

from __future__ import annotations

import uuid
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import aws, logs, tx
from chalicelib.core.config import get_settings
from chalicelib.core.dynamo import (
    Read,
    error_code,
    from_item,
    is_conditional_failure,
    ping_read,
    put_new,
    query_page,
    strip,
    to_attr,
    to_item,
    values,
)
from chalicelib.core.errors import Conflict, Forbidden, NotFound
from chalicelib.core.tx import Tagged

PROFILE = "PROFILE"
LOCK = "LOCK"
LIST_PK = "USER"


def user_key(user_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"USER#{user_id}"}, "sk": {"S": PROFILE}}


def _claim(kind: str, value: str) -> dict[str, str]:
    """A uniqueness claim's key, case-insensitive: EMAIL#<lower> / LOCK."""
    return {"pk": f"{kind}#{value.lower()}", "sk": LOCK}


def email_key(email: str) -> dict[str, Any]:
    return to_item(_claim("EMAIL", email))


def username_key(username: str) -> dict[str, Any]:
    return to_item(_claim("USERNAME", username))


class ConditionFailed(Exception):
    """A conditional write of the user found it changed (version, status, session)."""


class UsersRepo:
    """Every DynamoDB access for users. Methods take ``extra`` transaction items (audit rows)."""

    @property
    def table(self) -> str:
        return get_settings().users_table

    @staticmethod
    def is_profile_row(item: dict[str, Any]) -> bool:
        """Is this stored item (a stream image) a user's profile, not one of its other rows?"""
        return item.get("sk") == "PROFILE"

    def ping(self) -> Read[None]:
        return ping_read(self.table)

    @property
    def ddb(self) -> Any:
        return aws.client("dynamodb")

    # -- reads ----------------------------------------------------------------------------
    def get(self, user_id: str, consistent: bool = False) -> dict[str, Any] | None:
        resp = self.ddb.get_item(TableName=self.table, Key=user_key(user_id), ConsistentRead=consistent)
        return from_item(resp.get("Item"))

    def require(self, user_id: str) -> dict[str, Any]:
        user = self.get(user_id)
        if not user:
            raise NotFound("user not found")
        return user

    def profile_read(self, user_id: str) -> Read[dict[str, Any] | None]:
        """The user, for a caller batching reads of several domains (``read_all``)."""
        return Read(self.table, [user_key(user_id)], lambda rows: strip(rows[0]) if rows else None)

    def auth_view(self, user_id: str, sid: str) -> dict[str, Any] | None:
        """The few attributes the authorizer checks: status, role, tokenVersion, this session."""
        resp = self.ddb.get_item(
            TableName=self.table,
            Key=user_key(user_id),
            ProjectionExpression="#st, #r, tokenVersion, vendorId, sessions.#sid",
            ExpressionAttributeNames={"#st": "status", "#r": "role", "#sid": sid},
        )
        return from_item(resp.get("Item"))

    def claim_read(self, lock: dict[str, Any]) -> Read[str | None]:
        """The user id behind an email or username claim (None: nobody has it)."""
        return Read(self.table, [lock], lambda rows: str(rows[0]["userId"]) if rows else None)

    def lock_exists(self, lock: dict[str, Any]) -> bool:
        return "Item" in self.ddb.get_item(TableName=self.table, Key=lock, ProjectionExpression="pk")

    def list_page(
        self, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        return query_page(
            self.ddb, self.table, ("gsi1pk", LIST_PK), limit, cursor, index="byCreated", newest_first=True
        )

    def staff(self, roles: tuple[str, ...] = ("manager", "admin")) -> list[dict[str, Any]]:
        """Active users with one of ``roles`` (userId, email, role). There is no index by role:
        this reads the ``byCreated`` listing's small projection, every page, and keeps those
        (a job's read, never a request's)."""
        names = {"#r": "role", "#st": "status"}
        vals = values(p=LIST_PK, active="active", **{f"r{i}": r for i, r in enumerate(roles)})
        args: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "byCreated",
            "KeyConditionExpression": "gsi1pk = :p",
            "FilterExpression": f"#r IN ({', '.join(f':r{i}' for i in range(len(roles)))}) AND #st = :active",
            "ProjectionExpression": "userId, email, #r, #st",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": vals,
        }
        out: list[dict[str, Any]] = []
        while True:
            resp = self.ddb.query(**args)
            out += [u for u in (from_item(x) for x in resp.get("Items", [])) if u and u.get("email")]
            if "LastEvaluatedKey" not in resp:
                return out
            args["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def create(self, user: dict[str, Any], extra: list[Tagged]) -> None:
        """The user and its email and username claims in one transaction: two concurrent
        registrations of one email cannot both win."""
        item = {
            "pk": f"USER#{user['userId']}",
            "sk": PROFILE,
            "gsi1pk": LIST_PK,
            "gsi1sk": f"{user['createdAt']}#{user['userId']}",
            **user,
        }
        email = Tagged("user:email", put_new(self.table, {**_claim("EMAIL", user["email"]), "userId": user["userId"]}))
        username = Tagged(
            "user:username", put_new(self.table, {**_claim("USERNAME", user["username"]), "userId": user["userId"]})
        )
        try:
            tx.commit(
                [Tagged("user", put_new(self.table, item)), email, username, *extra], f"register:{user['userId']}"
            )
        except tx.Cancelled as exc:
            if exc.hit(email):
                raise Conflict("email is already registered", fields={"email": "already registered"}) from None
            if exc.hit(username):
                raise Conflict("username is taken", fields={"username": "already taken"}) from None
            raise Conflict("registration collided with another; retry", code="contention") from None

    def _update(
        self,
        user_id: str,
        expression: str,
        vals: dict[str, Any],
        names: dict[str, str] | None,
        condition: str,
        extra: list[Tagged],
    ) -> None:
        """One conditional update of the user, with ``extra`` items (audit rows) in the same
        transaction when there are any. A failed condition raises ``ConditionFailed``."""
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": user_key(user_id),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
        }
        if vals:
            update["ExpressionAttributeValues"] = vals
        if names:
            update["ExpressionAttributeNames"] = names
        try:
            if extra:
                tx.commit([Tagged("user", {"Update": update}), *extra], f"user:{user_id}:{uuid.uuid4().hex}")
            else:
                self.ddb.update_item(**update)
        except tx.Cancelled as exc:
            if not exc.failed:  # another transaction held the item: busy, not a failed condition
                raise Conflict("the account is busy with another change; retry", code="contention") from None
            raise ConditionFailed from exc
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise ConditionFailed from None
            if error_code(exc) == "TransactionConflictException":  # an update racing a transaction
                raise Conflict("the account is busy with another change; retry", code="contention") from None
            raise

    def record_login(
        self,
        user_id: str,
        sid: str,
        session: dict[str, Any],
        devices: list[dict[str, Any]],
        now: str,
        stale_sids: list[str],
        extra: list[Tagged],
    ) -> None:
        names = {"#sid": sid, "#st": "status"}
        removes = []
        for i, old in enumerate(stale_sids):
            names[f"#old{i}"] = old
            removes.append(f"sessions.#old{i}")
        expression = "SET sessions.#sid = :session, devices = :devices, lastActiveAt = :now, correlationId = :cid"
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            self._update(
                user_id,
                expression,
                values(session=session, devices=devices, now=now, active="active", cid=logs.correlation_id.get()),
                names,
                "#st = :active",
                extra,
            )
        except ConditionFailed:
            raise Forbidden("account is disabled", code="account_disabled") from None

    def rotate_session(
        self, user_id: str, sid: str, old_jti: str, new_jti: str, exp: int, now: str
    ) -> dict[str, Any] | None:
        """Swap the session's current refresh jti; None when the presented one is not current."""
        try:
            resp = self.ddb.update_item(
                TableName=self.table,
                Key=user_key(user_id),
                UpdateExpression="SET sessions.#sid.jti = :new, sessions.#sid.exp = :exp, lastActiveAt = :now",
                ConditionExpression="sessions.#sid.jti = :old AND #st = :active",
                ExpressionAttributeNames={"#sid": sid, "#st": "status"},
                ExpressionAttributeValues=values(new=new_jti, exp=exp, now=now, old=old_jti, active="active"),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return None
            raise
        return from_item(resp["Attributes"])

    def remove_session(self, user_id: str, sid: str, extra: list[Tagged]) -> None:
        try:
            self._update(user_id, "REMOVE sessions.#sid", {}, {"#sid": sid}, "attribute_exists(pk)", extra)
        except ConditionFailed:
            raise NotFound("user not found") from None

    def revoke_all(
        self,
        user_id: str,
        sets: dict[str, Any],
        extra: list[Tagged],
        condition: str = "attribute_exists(pk)",
        cond_values: dict[str, Any] | None = None,
    ) -> None:
        """Apply ``sets`` and end every session: clear them and bump tokenVersion so live access
        tokens fail the authorizer's check at once."""
        names = {f"#f{i}": k for i, k in enumerate(sets)}
        assigns = [f"#f{i} = :f{i}" for i in range(len(sets))]
        vals = {f":f{i}": to_attr(v) for i, v in enumerate(sets.values())}
        vals.update(values(empty={}, one=1))
        vals.update(cond_values or {})
        expression = "SET " + ", ".join([*assigns, "sessions = :empty"]) + " ADD tokenVersion :one"
        try:
            self._update(user_id, expression, vals, names, condition, extra)
        except ConditionFailed:
            raise NotFound("user not found") from None

    def update_profile(
        self, user_id: str, expected_version: int, changes: dict[str, Any], extra: list[Tagged] | None = None
    ) -> None:
        names = {f"#f{i}": k for i, k in enumerate(changes)}
        vals = {f":f{i}": to_attr(v) for i, v in enumerate(changes.values())}
        vals.update(values(v=expected_version, one=1))
        expression = "SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(changes))) + " ADD version :one"
        try:
            self._update(user_id, expression, vals, {**names, "#v": "version"}, "#v = :v", extra or [])
        except ConditionFailed:
            raise Conflict("profile changed concurrently; reload and retry", code="version_conflict") from None

    def link_vendor_request(self, user_id: str, vendor_id: str) -> Tagged:
        """A transaction element (tagged ``user:owner``): make a user the owner of a vendor. Their
        role changes, so their sessions end (tokens carry the role)."""
        return Tagged(
            "user:owner",
            {
                "Update": {
                    "TableName": self.table,
                    "Key": user_key(user_id),
                    "UpdateExpression": "SET #r = :vendor, vendorId = :vid, sessions = :empty ADD tokenVersion :one",
                    "ConditionExpression": "attribute_exists(pk) AND #st = :active AND #r IN (:customer, :vendor)",
                    "ExpressionAttributeNames": {"#r": "role", "#st": "status"},
                    "ExpressionAttributeValues": values(
                        vendor="vendor", vid=vendor_id, empty={}, one=1, active="active", customer="customer"
                    ),
                }
            },
        )

    def request_verification(self, user_id: str, now: str) -> None:
        self.ddb.update_item(
            TableName=self.table,
            Key=user_key(user_id),
            UpdateExpression="SET verificationRequestedAt = :now, correlationId = :cid",
            ExpressionAttributeValues=values(now=now, cid=logs.correlation_id.get()),
        )

    def mark_profile_prompted(self, user_id: str) -> None:
        self.ddb.update_item(
            TableName=self.table,
            Key=user_key(user_id),
            UpdateExpression="SET profileCompletionPrompted = :t",
            ExpressionAttributeValues=values(t=True),
        )

    def order_placed_request(self, user_id: str, now: str, payment_method: str | None) -> Tagged:
        """Transaction element (tagged ``user``) for the customer flags an order updates (seeds:
        orderCount, lastActiveAt, preferredPaymentMethod); only an active user can order."""
        sets = "SET lastActiveAt = :now" + (", preferredPaymentMethod = :pm" if payment_method else "")
        vals = values(now=now, one=1, active="active", **({"pm": payment_method} if payment_method else {}))
        return Tagged(
            "user",
            {
                "Update": {
                    "TableName": self.table,
                    "Key": user_key(user_id),
                    "UpdateExpression": f"{sets} ADD orderCount :one",
                    "ConditionExpression": "#st = :active",
                    "ExpressionAttributeNames": {"#st": "status"},
                    "ExpressionAttributeValues": vals,
                }
            },
        )

    def set_email_verified(self, user_id: str, email: str) -> bool:
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=user_key(user_id),
                UpdateExpression="SET emailVerified = :t",
                ConditionExpression="email = :e",
                ExpressionAttributeValues=values(t=True, e=email),
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True
