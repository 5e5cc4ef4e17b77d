"""Domain words shared by every stage."""

from enum import StrEnum


class Dimension(StrEnum):
    """The five dimensions of the score, with the published default weights in `DEFAULT_WEIGHTS`."""

    CREDIT_HISTORY = "credit_history"
    BEHAVIOR_PREFERENCE = "behavior_preference"
    FULFILLMENT_CAPACITY = "fulfillment_capacity"
    IDENTITY_TRAITS = "identity_traits"
    CONNECTIONS = "connections"


DEFAULT_WEIGHTS: dict[Dimension, float] = {
    Dimension.CREDIT_HISTORY: 0.35,
    Dimension.BEHAVIOR_PREFERENCE: 0.25,
    Dimension.FULFILLMENT_CAPACITY: 0.20,
    Dimension.IDENTITY_TRAITS: 0.15,
    Dimension.CONNECTIONS: 0.05,
}
