"""freshcart: wiring only. Routes, handlers and jobs live in chalicelib blueprints."""

import os
import sys
from typing import Any

from chalice import Chalice, Response

from chalicelib.catalog import api as catalog_api
from chalicelib.core import docs, openapi
from chalicelib.core.http import error_middleware
from chalicelib.deliveries import api as deliveries_api
from chalicelib.deliveries import jobs as deliveries_jobs
from chalicelib.inventory import api as inventory_api
from chalicelib.inventory import jobs as inventory_jobs
from chalicelib.notifications import api as notifications_api
from chalicelib.notifications import jobs as notification_jobs
from chalicelib.ops import api as ops_api
from chalicelib.ops import jobs as ops_jobs
from chalicelib.orders import api as orders_api
from chalicelib.orders import jobs as orders_jobs
from chalicelib.payments import api as payments_api
from chalicelib.payments import jobs as payments_jobs
from chalicelib.reports import api as reports_api
from chalicelib.reports import jobs as reports_jobs
from chalicelib.subscriptions import api as subscriptions_api
from chalicelib.subscriptions import jobs as subscriptions_jobs
from chalicelib.users import api as users_api
from chalicelib.users import authorizer
from chalicelib.users import jobs as users_jobs
from chalicelib.vendors import api as vendors_api

app = Chalice(app_name="freshcart")
if os.environ.get("AWS_CHALICE_CLI_MODE") == "true" and "local" in sys.argv[1:]:  # `chalice local` only
    try:
        from freshcart_local import gateway

        gateway.for_chalice_local()
    except ImportError:  # not in a deployment package, where this never runs anyway
        pass
app.register_middleware(error_middleware, "http")
app.register_blueprint(authorizer.bp)
app.register_blueprint(users_api.bp)
app.register_blueprint(users_jobs.bp)
app.register_blueprint(notification_jobs.bp)
app.register_blueprint(notifications_api.bp)
app.register_blueprint(ops_api.bp)
app.register_blueprint(ops_jobs.bp)
app.register_blueprint(catalog_api.bp)
app.register_blueprint(vendors_api.bp)
app.register_blueprint(inventory_api.bp)
app.register_blueprint(inventory_jobs.bp)
app.register_blueprint(orders_api.bp)
app.register_blueprint(orders_jobs.bp)
app.register_blueprint(payments_api.bp)
app.register_blueprint(payments_jobs.bp)
app.register_blueprint(deliveries_api.bp)
app.register_blueprint(deliveries_jobs.bp)
app.register_blueprint(subscriptions_api.bp)
app.register_blueprint(subscriptions_jobs.bp)
app.register_blueprint(reports_api.bp)
app.register_blueprint(reports_jobs.bp)


@app.route("/openapi.json", methods=["GET"])
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of this API."""
    return openapi.document(app)


@app.route("/docs", methods=["GET"])
def api_docs() -> Response:
    """This API as a page to read (rendered from /openapi.json; no scripts, no CDN)."""
    return Response(docs.render(openapi.document(app)), headers={"Content-Type": "text/html; charset=utf-8"})
