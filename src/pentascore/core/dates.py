"""Calendar arithmetic and parsing of as-of dates, in UTC."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime

from pentascore.core.errors import ConfigError


def add_months(at: datetime, months: int) -> datetime:
    """``at`` moved by whole calendar months, the day clamped to the month's length."""
    index = at.year * 12 + (at.month - 1) + months
    year, month = divmod(index, 12)
    day = min(at.day, calendar.monthrange(year, month + 1)[1])
    return at.replace(year=year, month=month + 1, day=day)


def parse_as_of(text: str) -> datetime:
    """An as-of date from ``2025-10-01`` (midnight UTC) or an ISO 8601 time with an offset."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"as_of must be a date like 2025-10-01; got {text!r}.") from exc
    if at.tzinfo is None:
        raise ConfigError(f"as_of must carry a UTC offset when it has a time; got {text!r}.")
    return at.astimezone(UTC)
