"""A seeded, vectorized, generative population simulator for demos, tests and benchmarks."""

from pentascore.sim._world import HAZARD_COEFFICIENTS, TRAITS, default_hazard
from pentascore.sim.lake import populate_lake
from pentascore.sim.population import (
    LABEL_DEFINITION,
    Population,
    SimulationConfig,
    simulate,
)
from pentascore.sim.writer import write_population

__all__ = [
    "HAZARD_COEFFICIENTS",
    "LABEL_DEFINITION",
    "TRAITS",
    "Population",
    "SimulationConfig",
    "default_hazard",
    "populate_lake",
    "simulate",
    "write_population",
]
