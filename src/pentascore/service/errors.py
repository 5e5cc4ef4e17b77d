"""Refusals the service explains: a machine-readable code, a sentence, an HTTP status."""

from __future__ import annotations

from typing import Any

from pentascore.core.errors import PentascoreError


class Refused(PentascoreError):
    """A request the service will not carry out, and why.

    ``code`` is stable and machine-readable (``authorization_revoked``); ``status`` is the
    HTTP status the API answers with; ``extra`` adds fields such as ``opens`` (a date).
    """

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra
        super().__init__(f"{code}: {message}")

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.extra}
