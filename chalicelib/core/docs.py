"""GET /docs: the OpenAPI document as one self-contained HTML page (no scripts, no CDN, no assets).

Rendered on the server from the same document as /openapi.json, so it cannot drift from it, and
it adds nothing to the Lambda package (a Swagger UI bundle would add about a megabyte)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#1d2330}
h1{margin-bottom:.2rem} h2{border-bottom:2px solid #dde;padding-bottom:.2rem;margin-top:2.5rem}
.op{border:1px solid #dde;border-radius:6px;margin:1rem 0;padding:.6rem 1rem}
.m{display:inline-block;min-width:4.2rem;font-weight:700;font-family:monospace}
.get{color:#0a6} .post{color:#06c} .patch{color:#a60} .delete{color:#c22}
code,pre{font-family:ui-monospace,monospace;font-size:13px} pre{background:#f5f6f9;padding:.6rem;overflow:auto}
table{border-collapse:collapse;margin:.4rem 0} td,th{border:1px solid #dde;padding:.2rem .5rem;text-align:left}
.muted{color:#667} nav a{margin-right:.8rem}
"""


def _schema(schema: dict[str, Any]) -> str:
    """A schema as JSON, with each $ref a link to its component."""
    text = escape(json.dumps(schema, indent=2, ensure_ascii=False))
    for name in _refs(schema):
        ref = escape(f'"#/components/schemas/{name}"')
        text = text.replace(ref, f'"<a href="#schema-{escape(name)}">#/components/schemas/{escape(name)}</a>"')
    return f"<pre>{text}</pre>"


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {str(value["$ref"]).rsplit("/", 1)[-1]} if isinstance(value.get("$ref"), str) else set()
        for v in value.values():
            found |= _refs(v)
        return found
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    parts = [
        f'<div class="op" id="{escape(op["operationId"])}">',
        f'<div><span class="m {method}">{method.upper()}</span> <code>{escape(path)}</code> '
        f"— {escape(op.get('summary', ''))}</div>",
    ]
    if op.get("description"):
        parts.append(f"<p>{escape(op['description'])}</p>")
    who = ", ".join(op.get("x-roles", [])) or "anyone"
    auth = "bearer token" if op.get("security") else "no token"
    parts.append(f'<p class="muted">who: {escape(who)} · {auth}</p>')
    params = op.get("parameters", [])
    if params:
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
            f"<td>{'yes' if p.get('required') else ''}</td><td><code>{escape(json.dumps(p['schema']))}</code></td>"
            f"<td>{escape(p.get('description', ''))}</td></tr>"
            for p in params
        )
        parts.append(
            "<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th><th></th></tr>" + rows + "</table>"
        )
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        parts.append("<p>body (application/json):</p>" + _schema(body["schema"]))
    lines: list[str] = []
    for code, resp in op.get("responses", {}).items():
        content = resp.get("content", {})
        shape = ", ".join(
            f"{escape(mt)} " + (_links(c.get("schema", {})) if mt == "application/json" else "")
            for mt, c in content.items()
        )
        lines.append(f"<tr><td>{escape(code)}</td><td>{escape(resp.get('description', ''))}</td><td>{shape}</td></tr>")
    parts.append("<table><tr><th>status</th><th>meaning</th><th>body</th></tr>" + "".join(lines) + "</table>")
    parts.append("</div>")
    return "\n".join(parts)


def _links(schema: dict[str, Any]) -> str:
    names = sorted(_refs(schema))
    return " | ".join(f'<a href="#schema-{escape(n)}">{escape(n)}</a>' for n in names)


def render(doc: dict[str, Any]) -> str:
    info = doc.get("info", {})
    tags = [t["name"] for t in doc.get("tags", [])]
    by_tag: dict[str, list[str]] = {t: [] for t in tags}
    for path, methods in doc.get("paths", {}).items():
        for method, op in methods.items():
            tag = (op.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append(_operation(path, method, op))
    sections = []
    for tag in by_tag:
        text = next((t.get("description", "") for t in doc.get("tags", []) if t["name"] == tag), "")
        sections.append(f'<h2 id="tag-{escape(tag)}">{escape(tag)}</h2><p>{escape(text)}</p>' + "".join(by_tag[tag]))
    schemas = doc.get("components", {}).get("schemas", {})
    components = "".join(
        f'<h3 id="schema-{escape(name)}"><code>{escape(name)}</code></h3>{_schema(schema)}'
        for name, schema in sorted(schemas.items())
    )
    nav = "".join(f'<a href="#tag-{escape(t)}">{escape(t)}</a>' for t in by_tag) + '<a href="#schemas">schemas</a>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(info.get('title', 'API'))}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(info.get('title', 'API'))} <small class='muted'>{escape(info.get('version', ''))}</small></h1>"
        f"<p>{escape(info.get('description', ''))}</p>"
        '<p class="muted">The machine-readable document: <a href="openapi.json">openapi.json</a></p>'
        f"<nav>{nav}</nav>{''.join(sections)}"
        f'<h2 id="schemas">schemas</h2>{components}</body></html>'
    )
