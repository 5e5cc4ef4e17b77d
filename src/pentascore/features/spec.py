"""What a feature is, as data: no engine is imported here.

A feature is one number per person, as of a date, computed from the events before that date.
Its definition is an aggregate written in a small, portable SQL subset with a few macros (see
`pentascore.features.sql`), over one of a handful of named relations (`Relation`). Each engine
renders the same text in its own dialect, so the logic exists once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pentascore.core.types import Dimension
from pentascore.events.schema import EventType


class Direction(StrEnum):
    """How a feature's value relates to the risk of default, when that is known in advance."""

    INCREASES_RISK = "increases_risk"
    DECREASES_RISK = "decreases_risk"
    UNKNOWN = "unknown"


class Relation(StrEnum):
    """The rows a feature aggregates per person.

    - ``events``: current events before the as-of date (corrections applied).
    - ``bills``: current bill reports, one row per bill (its latest report), with ``ended_ts``
      (when it was paid, or the as-of date while unpaid) and ``severity`` (overdue level).
    - ``latest_assets``: the latest snapshot of each kind of asset.
    - ``latest_lines``: the latest state of each credit line.
    - ``friends``: current friendships, with the friend's flags (``friend_defaulted``,
      ``friend_flagged``, ``friend_score``).
    - ``transfers_flagged``: transfers, with whether the counterparty is fraud-flagged.
    """

    EVENTS = "events"
    BILLS = "bills"
    LATEST_ASSETS = "latest_assets"
    LATEST_LINES = "latest_lines"
    FRIENDS = "friends"
    TRANSFERS_FLAGGED = "transfers_flagged"


@dataclass(frozen=True)
class FeatureSpec:
    """One feature of the catalogue.

    Attributes
    ----------
    name : str
        Column name in the feature table.
    dimension : Dimension
        Which of the five dimensions it belongs to.
    sources : tuple of EventType
        Event types it reads.
    relation : Relation
        The rows it aggregates.
    aggregate : str
        Portable SQL aggregate over ``relation``, with the macros of `pentascore.features.sql`.
    default : float
        Its value for a person with no matching rows.
    window_days : int or None
        The look-back window, if any (documentation and reason codes).
    direction : Direction
        Monotone relation to risk, used as a constraint by the model.
    actionable : bool
        Whether the person can change it by what they do (reason codes, improvement plan).
    sentence : str
        Plain words with ``{value}``, for reason codes and tips.
    """

    name: str
    dimension: Dimension
    sources: tuple[EventType, ...]
    relation: Relation
    aggregate: str
    default: float | None
    window_days: int | None
    direction: Direction
    actionable: bool
    sentence: str
