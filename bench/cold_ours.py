"""freshcart cold start: import the app, run the authorizer, serve GET /users/me."""

import time

T0 = time.perf_counter()
C0 = time.process_time()
import json  # noqa: E402
import os  # noqa: E402

from app import app  # noqa: E402

if __name__ == "__main__":
    from bench.events import api_event, auth_event

    token = os.environ["BENCH_TOKEN"]
    policy = app.handler_map["jwt_auth"](auth_event(token), None)
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow", policy
    resp = app(api_event("/users/me", policy["principalId"], policy["context"]), None)
    assert resp["statusCode"] == 200, resp
    print(json.dumps({"ms": (time.perf_counter() - T0) * 1000, "cpu_ms": (time.process_time() - C0) * 1000}))
