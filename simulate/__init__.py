"""fakalab: simulate — a validated discrete-event model of the shop's order pipeline.

Entry points: ``run(PipelineModel(...), seed)`` for the full pipeline (SimPy worker pool),
``run_mmc(MMcModel(...), seed)`` for the fast M/M/c path, ``sweep`` and ``capacity`` for
what-if questions. Everything here is pure: no files, no network.
"""

from fakalab.simulate.capacity import CapacityPlan, capacity, parse_slo
from fakalab.simulate.mmc import MMcModel, MMcReport, run_mmc
from fakalab.simulate.model import SimulationResult, run
from fakalab.simulate.params import (
    Buyer,
    Channel,
    Fault,
    LoadShape,
    Payment,
    PipelineModel,
    PriorityClass,
    Stage,
)
from fakalab.simulate.whatif import sweep, with_params

__all__ = [
    "Buyer",
    "CapacityPlan",
    "Channel",
    "Fault",
    "LoadShape",
    "MMcModel",
    "MMcReport",
    "Payment",
    "PipelineModel",
    "PriorityClass",
    "SimulationResult",
    "Stage",
    "capacity",
    "parse_slo",
    "run",
    "run_mmc",
    "sweep",
    "with_params",
]
