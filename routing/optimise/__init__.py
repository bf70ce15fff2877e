"""The optimiser: the plan of least weighted objective, as a small mixed-integer program.

:mod:`~routing.optimise.choose` picks the method by size and objective (the exact
minimum-split search where it is proven; for a weighted objective on an order whose lines
may all split, the branch and bound of :mod:`~routing.optimise.cover`; HiGHS otherwise);
the program is stated in
:mod:`~routing.optimise.model` over :mod:`~routing.optimise.problem` and solved in
:mod:`~routing.optimise.solve`; :mod:`~routing.optimise.costs` turns the rule set's weights
into per-shipment and per-unit coefficients. Pure: no I/O, no clock.
"""

from omniroute.routing.optimise.choose import (
    DEFAULT_TIME_LIMIT,
    EXACT_MAX_LINES,
    Optimised,
    objective_of,
    plan_split,
)
from omniroute.routing.optimise.costs import Costs, shipment_costs, uniform_costs

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "EXACT_MAX_LINES",
    "Costs",
    "Optimised",
    "objective_of",
    "plan_split",
    "shipment_costs",
    "uniform_costs",
]
