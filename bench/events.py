"""API Gateway event shapes for benchmarks (what Lambda hands the handler)."""

from typing import Any


def auth_event(token: str) -> dict[str, Any]:
    return {
        "type": "TOKEN",
        "authorizationToken": f"Bearer {token}",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:api/api/GET/users/me",
    }


def api_event(
    path: str,
    user_id: str,
    context: dict[str, Any] | None = None,
    method: str = "GET",
    body: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {
            "accept": "application/json",
            "user-agent": "bench",
            "content-type": "application/json",
            **(headers or {}),
        },
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "requestId": "bench",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": {"principalId": user_id, **(context or {})},
        },
    }
