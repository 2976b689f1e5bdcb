"""Serving the page: the Gradio app with, on the same server, Prometheus metrics at `/metrics`, the JSON API under
`/api/v1/` (api.py, when the page is `build_demo`'s), MCP tools at `/gradio_api/mcp/` (Gradio's, from the API
endpoints' docstrings), each request bounded (bounds.py) and, with an access token, every route behind it
(access.py).

    demo = build_demo(predictor)
    launch(demo, limits, monitor, server_port=7860)    # blocks; prevent_thread_lock=True returns at once
"""

from __future__ import annotations

import gradio as gr

from contradiction.serving.access import AccessGuard
from contradiction.serving.api import PREFIX, build_api
from contradiction.serving.bounds import BodyLimits, ReadableJson, RequestLimits
from contradiction.serving.limits import Limits
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.page import PUBLIC_ENDPOINTS


def launch(
    demo: gr.Blocks, limits: Limits, monitor: Monitor, api_token: str | None = None, mcp_server: bool = True, **kwargs
) -> tuple:
    """Serve `demo` with the upload size limit, Prometheus metrics at `/metrics`, the JSON API under `/api/v1/` (when
    `demo` is `build_demo`'s), MCP tools at `/gradio_api/mcp/` unless `mcp_server` is false, and Gradio's own
    analytics dashboard off; every request bounded (bounds.py); with `api_token`, every route answers only a request
    with the token (access.py). `kwargs` go to `Blocks.launch` (server_name, server_port, ...)."""
    from prometheus_client import CONTENT_TYPE_LATEST
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Mount, Route

    def metrics(_: Request) -> Response:  # sync: Starlette runs it in a thread, off the event loop
        return Response(monitor.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    routes = [Route("/metrics", metrics)]
    json_routes = getattr(demo, "json_routes", None)
    if json_routes:
        routes.append(Mount(PREFIX, app=build_api(json_routes, limits, monitor, token=bool(api_token))))
        endpoints = [shape.endpoint for route in json_routes for shape in route.shapes.values()]
        monitor.metrics.declare([*PUBLIC_ENDPOINTS, *endpoints])
    middleware = [  # outermost first: who may ask, how much one request may hold, how many at once, what it holds
        Middleware(AccessGuard, token=api_token),
        Middleware(BodyLimits, limits=limits),
        Middleware(RequestLimits, limits=limits),
        Middleware(ReadableJson, limits=limits),
    ]
    return demo.launch(
        max_file_size=limits.max_upload_bytes,
        enable_monitoring=False,
        mcp_server=mcp_server,
        app_kwargs={"routes": routes, "middleware": middleware},
        **kwargs,
    )
