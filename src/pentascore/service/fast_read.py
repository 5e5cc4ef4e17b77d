"""The partner read in front of the app's routes: `GET /v1/scores/{user_id}?purpose=P` from a
partner whose key is remembered, answered without FastAPI's routing, dependency solving and
response model round trip, which cost a read several times what its database work does.

It takes only a request the route would take as it is: the path's id well-formed, the query
exactly ``purpose=`` a scenario code, an ``X-API-Key`` that `PartnerCache` remembers for an
enabled partner, no body. Everything else (a missing or unknown key, a disabled partner, a bad
id or purpose, another query, a body) goes on to the route, which answers it as it always
has. What it answers, it answers with the route's own code (``answer``: the same read path,
rate limit, query record in the transaction that reads, the same bytes); `app.py` declares
the route, so the OpenAPI schema is unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from pentascore.events.schema import ID_PATTERN
from pentascore.service.credentials import hash_secret
from pentascore.service.db import Partner
from pentascore.service.reads import PartnerCache
from pentascore.service.schemas import Purpose

PREFIX = "/v1/scores/"
_ID = re.compile(ID_PATTERN)
_QUERIES = {f"purpose={p.value}".encode(): p.value for p in Purpose}

# The route's answer: (partner, user_id, purpose) -> the response, refusals included.
Answer = Callable[[Partner, str, str], Awaitable[Response]]


class FastReads:
    """ASGI middleware: answers the partner reads it can, passes on everything else."""

    def __init__(self, app: ASGIApp, partners: PartnerCache, answer: Answer) -> None:
        self.app = app
        self.partners = partners
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            taken = self.take(scope)
            if taken is not None:
                response = await self.answer(*taken)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def take(self, scope: Scope) -> tuple[Partner, str, str] | None:
        """(partner, user_id, purpose) when the request is one to answer here, else None."""
        if scope["method"] != "GET" or scope.get("root_path"):
            return None
        purpose = _QUERIES.get(scope["query_string"])
        user_id: str = scope["path"][len(PREFIX) :]
        if purpose is None or "/" in user_id or _ID.fullmatch(user_id) is None:
            return None
        key = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                key = value if key is None else key  # the first, as Starlette reads it
            elif name in (b"content-length", b"transfer-encoding"):
                return None
        if not key:
            return None
        found = self.partners.get(hash_secret(key.decode("latin-1")))
        if found is None or found.disabled_at is not None:
            return None
        return found, user_id, purpose
