"""Cut oversized bodies off the tester API before Django reads them, without touching the disk.

Django's ASGI handler reads a whole request body before any view runs, into a temporary file that
moves to disk once it passes FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB). A hostile body without a
Content-Length (chunked) would be written to disk before the view could answer 413. For the tester
API, which takes one snapshot (at most FRAME_MAX_BYTES) per request, this ASGI wrapper reads the
body itself, in memory, and stops at the limit: Django then gets an empty body and a mark in the
scope, the view answers 413 in the one error shape (sessions.api, `body_was_cut`), and the answer
says `Connection: close`, so the rest of the body is never wanted. Bodies that fit are handed on in
one piece (below FILE_UPLOAD_MAX_MEMORY_SIZE, so Django's spool stays in memory too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TESTER_API_PREFIX = "/api/t/"
# Room for the multipart boundaries and the small form fields around the image itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
SCOPE_MARK = "mimik.body_cut"


def tester_body_limit() -> int:
    return settings.MIMIK["FRAME_MAX_BYTES"] + MULTIPART_OVERHEAD_BYTES


def body_was_cut(request: HttpRequest) -> bool:
    """True if TesterApiBodyLimit stopped reading this request's body (it was too large)."""
    scope = getattr(request, "scope", None)
    return bool(scope and scope.get(SCOPE_MARK))


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class TesterApiBodyLimit:
    def __init__(self, app: ASGIApp, prefix: str = TESTER_API_PREFIX) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        limit = tester_body_limit()
        declared = _declared_length(scope)
        chunks: list[bytes] = []
        cut = declared is not None and declared > limit
        received = 0
        while not cut:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before its body was complete: nobody to answer
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                cut = True
                break
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if cut:
            body = b""
            scope = {**scope, SCOPE_MARK: True}
            send = _closing_connection(send)
        elif declared is None:
            # A chunked body, now whole in memory: say its length, as parsers (DRF's) go by it.
            scope = {**scope, "headers": [*scope.get("headers", []), (b"content-length", str(len(body)).encode())]}
        await self.app(scope, _replay(body, receive, cut=cut), send)


def _replay(body: bytes, receive: Receive, *, cut: bool) -> Receive:
    """The body in one message; after it, Django only listens for the client's disconnect. Of a
    cut body nothing more is read at all: that listener waits until Django, having answered,
    cancels it, and the connection closes after the answer."""
    delivered = False

    async def replayed() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        if cut:
            await asyncio.Event().wait()  # never set: cancelled once the 413 is sent
        return await receive()

    return replayed


def _closing_connection(send: Send) -> Send:
    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
        await send(message)

    return closing
