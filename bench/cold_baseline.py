"""Baseline for cold_first_request_ratio: the smallest Chalice app doing the same GetItem."""

import time

T0 = time.perf_counter()
C0 = time.process_time()
import json  # noqa: E402
import os  # noqa: E402

import boto3  # noqa: E402
from chalice import Chalice  # noqa: E402

app = Chalice(app_name="baseline")
_ddb = None


@app.route("/users/me")
def me() -> dict:
    global _ddb
    _ddb = _ddb or boto3.client("dynamodb")
    user_id = app.current_request.context["authorizer"]["principalId"]
    item = _ddb.get_item(
        TableName=os.environ["USERS_TABLE"], Key={"pk": {"S": f"USER#{user_id}"}, "sk": {"S": "PROFILE"}}
    )["Item"]
    return {"userId": item["userId"]["S"], "email": item["email"]["S"]}


if __name__ == "__main__":
    from bench.events import api_event

    resp = app(api_event("/users/me", os.environ["BENCH_USER_ID"]), None)
    assert resp["statusCode"] == 200, resp
    print(json.dumps({"ms": (time.perf_counter() - T0) * 1000, "cpu_ms": (time.process_time() - C0) * 1000}))
