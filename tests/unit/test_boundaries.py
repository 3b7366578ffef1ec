"""The house rules that keep domains apart, checked on the source: no import cycle between domain
packages, no other domain's storage keys, and no web framework below the handlers."""

from __future__ import annotations

import ast
from pathlib import Path

LIB = Path(__file__).resolve().parents[2] / "chalicelib"
DOMAINS = sorted(p.name for p in LIB.iterdir() if p.is_dir() and p.name not in ("core", "__pycache__"))
EDGE = {"api.py", "jobs.py", "authorizer.py"}  # handlers: the only modules that may import chalice


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def domain_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {d: set() for d in DOMAINS}
    for domain in DOMAINS:
        for path in (LIB / domain).glob("*.py"):
            if path.name in EDGE:  # handlers may call bootstrap and other domains' jobs
                continue
            for module in imports(path):
                parts = module.split(".")
                if parts[0] == "chalicelib" and len(parts) > 1 and parts[1] in graph and parts[1] != domain:
                    graph[domain].add(parts[1])
    return graph


def test_no_import_cycle_between_domains() -> None:
    graph = domain_graph()
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in graph[node]:
            assert state.get(nxt) != "open", f"import cycle: {' -> '.join([*trail, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = "done"

    for domain in DOMAINS:
        if domain not in state:
            visit(domain, [])


def test_services_and_repos_do_not_import_chalice() -> None:
    """Domain services, rules and repositories (core's HTTP edge and error types aside)."""
    offenders = [
        str(path.relative_to(LIB))
        for domain in DOMAINS
        for path in (LIB / domain).glob("*.py")
        if path.name not in EDGE and any(m == "chalice" or m.startswith("chalice.") for m in imports(path))
    ]
    assert offenders == []


def test_only_a_domains_repo_names_its_tables_keys() -> None:
    """Services, rules and views never build another domain's keys (``PRODUCT#``, ``VENDOR#``...):
    they ask that domain's repository. (A repository may use such a word inside its own table's
    keys, as promos count uses per ``USER#``.)"""
    owners = {
        "USER#": "users",
        "PRODUCT#": "catalog",
        "PROMO#": "catalog",
        "VENDOR#": "vendors",
        "PIN#": "vendors",
        "STOCK#": "inventory",
        "ORDER#": None,
    }  # ORDER# is also an audit subject
    for path in LIB.glob("*/*.py"):
        domain = path.parent.name
        if path.name == "repo.py":
            continue
        text = path.read_text()
        for prefix, owner in owners.items():
            if owner and owner != domain and domain != "core" and f'"{prefix}' in text:
                raise AssertionError(f"{path.relative_to(LIB)} builds {owner}'s key {prefix}")


REPOSITORY_MODULES = {"repo.py", "ledger.py", "chain.py"}  # the modules that touch a table
TABLES = {
    "users_table": "users",
    "audit_table": "audit",
    "catalog_table": "catalog",
    "vendors_table": "vendors",
    "inventory_table": "inventory",
    "orders_table": "orders",
    "deliveries_table": "deliveries",
    "notifications_table": "notifications",
    "subscriptions_table": "subscriptions",
    "payments_table": "payments",
    "transactions_table": "payments",
    "ratelimit_table": "core",
    "idempotency_table": "core",
}


def test_a_table_is_named_only_by_its_domains_repository() -> None:
    """Each domain owns its tables: no other module names one (others ask its repository)."""
    import re

    for path in LIB.glob("*/*.py"):
        domain = path.parent.name
        for setting in set(re.findall(r"\.(\w+_table)\b", path.read_text())):
            owner = TABLES.get(setting)
            assert owner is not None, f"{path.relative_to(LIB)}: unknown table setting {setting}"
            where = domain == "core" or path.name in REPOSITORY_MODULES
            assert owner == domain and where, f"{path.relative_to(LIB)} names {owner}'s table {setting}"


def test_only_repositories_read_storage_keys() -> None:
    """Services, handlers and jobs never parse ``pk``/``sk`` (a stream image's kind is its
    repository's question, as ``InventoryRepo.is_stock_row``)."""
    import re

    for path in LIB.glob("*/*.py"):
        if path.parent.name == "core" or path.name in REPOSITORY_MODULES:
            continue
        found = re.findall(r"""\[["'](?:pk|sk)["']\]|\.get\(["'](?:pk|sk)["']""", path.read_text())
        assert not found, f"{path.relative_to(LIB)} reads storage keys: {found}"


def test_handlers_reach_other_domains_only_through_bootstrap() -> None:
    """api/jobs modules parse, call a service from the composition root and map the result: they
    import core, bootstrap, their own domain, the shared authorizer and the audit actor only."""
    allowed = {"chalicelib.users.authorizer", "chalicelib.audit.repo", "chalicelib.bootstrap"}
    for domain in DOMAINS:
        for path in (LIB / domain).glob("*.py"):
            if path.name not in EDGE:
                continue
            for module in imports(path):
                parts = module.split(".")
                if parts[0] != "chalicelib" or len(parts) < 2 or parts[1] in ("core", domain) or module in allowed:
                    continue
                raise AssertionError(f"{path.relative_to(LIB)} imports {module}")


def test_no_module_is_past_400_lines() -> None:
    """A module past ~400 lines is two modules (the payments house was 1,226 in one)."""
    long = {str(p.relative_to(LIB)): n for p in LIB.glob("*/*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}, long
