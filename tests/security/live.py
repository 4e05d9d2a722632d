"""A real uvicorn server for the app under test, in the test's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import uvicorn


@contextlib.asynccontextmanager
async def live_server(app):
    """Serve ``app`` (lifespan included) on a free loopback port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(200):
            if server.started or serving.done():
                break
            await asyncio.sleep(0.05)
        assert server.started, "uvicorn did not start"
        yield base
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=15)
        sock.close()
    assert serving.exception() is None
