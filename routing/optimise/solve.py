"""Solving a :class:`~routing.optimise.model.Model` with HiGHS (highspy), in memory.

Pure computation: no files, no clock read here (HiGHS keeps its own ``time_limit``), no
output; one thread, a fixed seed, so that the same input gives the same answer when no
limit is reached.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np

from omniroute.routing.optimise.model import INF, Model

# HiGHS's model status -> the trace's word for it.
STATUS = {
    highspy.HighsModelStatus.kOptimal: "optimal",
    highspy.HighsModelStatus.kInfeasible: "infeasible",
    highspy.HighsModelStatus.kTimeLimit: "time_limit",
    highspy.HighsModelStatus.kIterationLimit: "iteration_limit",
    highspy.HighsModelStatus.kSolutionLimit: "solution_limit",
}


@dataclass(frozen=True)
class Solved:
    """What HiGHS found: its status, the column values of its best plan (None: none), the
    relative gap between that plan and its bound, and the branch-and-bound nodes."""

    status: str
    values: list[float] | None
    gap: float | None
    nodes: int


@dataclass(frozen=True)
class Relaxed:
    """The LP relaxation's optimum (None: infeasible or not solved), its column values and
    its row duals."""

    value: float | None
    values: list[float]
    duals: list[float]


def relax(model: Model) -> Relaxed:
    """Solve ``model`` with its integer columns relaxed to continuous ones."""
    highs = _highs(time_limit=INF)
    highs.setOptionValue("presolve", "off")  # half the time on these small LPs
    lp = _lp(model)
    lp.integrality_ = [highspy.HighsVarType.kContinuous] * len(model.cost)
    highs.passModel(lp)
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return Relaxed(None, [0.0] * len(model.cost), [0.0] * len(model.rows))
    value = float(highs.getInfo().objective_function_value)
    solution = highs.getSolution()
    values = [float(v) for v in solution.col_value]
    return Relaxed(value, values, [float(d) for d in solution.row_dual])


def _highs(time_limit: float, rel_gap: float = 1e-6) -> highspy.Highs:
    highs = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy's __init__ is untyped
    # Every instance asks for one thread: HiGHS's scheduler is process-wide, and an instance
    # asking for another count than the first one that ran fails to run at all.
    for name, value in (
        ("output_flag", False),
        ("log_to_console", False),
        ("threads", 1),
        ("random_seed", 0),
        ("time_limit", float(time_limit)),
        ("mip_rel_gap", rel_gap),
        ("mip_heuristic_effort", 0.0),  # it starts from the heuristic's plan already
    ):
        highs.setOptionValue(name, value)
    return highs


def solve(
    model: Model,
    *,
    time_limit: float,
    start: Sequence[float] | None = None,
    rel_gap: float = 1e-6,
) -> Solved:
    """Minimise ``model`` within ``time_limit`` seconds, from the feasible ``start`` if any."""
    highs = _highs(time_limit, rel_gap)
    highs.passModel(_lp(model))
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = list(start)
        solution.value_valid = True
        highs.setSolution(solution)
    highs.run()
    status = STATUS.get(highs.getModelStatus(), "error")
    info = highs.getInfo()
    found = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    values = list(highs.getSolution().col_value) if found else None
    # No plan, or no bound yet: None, as the trace's JSON has no infinity.
    raw = float(info.mip_gap)
    gap = None if values is None or not math.isfinite(raw) else min(max(raw, 0.0), 1.0)
    return Solved(status, values, gap, int(max(info.mip_node_count, 0)))


def _lp(model: Model) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    lp.num_col_ = len(model.cost)
    lp.num_row_ = len(model.rows)
    lp.col_cost_ = np.array(model.cost, dtype=np.float64)
    lp.col_lower_ = np.zeros(len(model.cost))
    lp.col_upper_ = np.array(model.upper, dtype=np.float64)
    lp.row_lower_ = np.array(model.row_lower, dtype=np.float64)
    lp.row_upper_ = np.array(model.row_upper, dtype=np.float64)
    starts = [0]
    index: list[int] = []
    value: list[float] = []
    for columns, coefficients in model.rows:
        index += columns
        value += coefficients
        starts.append(len(index))
    matrix = lp.a_matrix_
    matrix.format_ = highspy.MatrixFormat.kRowwise
    matrix.start_ = np.array(starts, dtype=np.int32)
    matrix.index_ = np.array(index, dtype=np.int32)
    matrix.value_ = np.array(value, dtype=np.float64)
    lp.a_matrix_ = matrix
    kinds = [highspy.HighsVarType.kContinuous] * len(model.cost)
    for c in model.integers:
        kinds[c] = highspy.HighsVarType.kInteger
    lp.integrality_ = kinds
    return lp
