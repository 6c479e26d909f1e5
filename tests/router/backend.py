"""A tiny stand-in model server for router tests (a real process on 127.0.0.1).

    python tests/router/backend.py PORT NAME LABEL

Answers every POST with a V2-style response predicting LABEL, and says who answered in the
``X-Backend`` header; ``GET /readyz`` is 200. ``POST /slow`` sleeps 0.5 s first.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


def main() -> None:
    port, name, label = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])

    async def infer(request: web.Request) -> web.Response:
        body = await request.read()
        if request.path == "/slow":
            await asyncio.sleep(0.5)
        return web.json_response(
            {
                "model_name": "m",
                "outputs": [{"name": "label", "datatype": "INT64", "shape": [1], "data": [label]}],
                "echo_bytes": len(body),
            },
            headers={"X-Backend": name},
        )

    async def ready(_request: web.Request) -> web.Response:
        return web.json_response({"ready": True}, headers={"X-Backend": name})

    app = web.Application()
    app.router.add_get("/readyz", ready)
    app.router.add_route("POST", "/{tail:.*}", infer)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
