"""The trace as it is read: the words of the warehouses short of stock, made from its
figures, and the headline, which names the first of them.

The router stores, for each eligible warehouse short of the order's stock, only the figures
(its usable units of each order SKU under ``stock``, the order's SKUs and units under
``short_of``) and a bare ``{"reason": "no_stock"}``: in a typical decision most warehouses
are short, each in its own way, and their words cost more than the rest of the decision.
:func:`render_trace` makes those entries what they would have been if written at decision
time (``short``, ``text``, the ``lost: ...`` verdict), drops the figures and, unless the
application set one, makes the ``headline`` (always the first key); a trace stored
before (or one with nothing to render) comes back as it is. Pure; the stored trace is not
changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import compress
from typing import Any

from omniroute.routing.tracing.explain import headline, runner_up

# The top-level key of a trace with entries to render: the order's SKUs, the units it needs
# of each (same order as every candidate's ``stock``) and how many shipments it went in.
FIGURES = "short_of"


def figures(skus: Sequence[str], need: Sequence[int], shipments: int) -> dict[str, Any]:
    """The trace's ``short_of`` entry."""
    return {"skus": list(skus), "need": list(need), "shipments": shipments}


def shipments_tail(shipments: int) -> str:
    """What ends each shortfall's words: how many shipments the order went in, if more than
    one."""
    return f"; the order ships in {shipments} shipments" if shipments > 1 else ""


def render_trace(trace: Mapping[str, Any]) -> dict[str, Any]:
    """``trace`` as the API shows it (a new dict; ``trace`` itself is not changed)."""
    found = trace.get(FIGURES)
    if found is None:
        return dict(trace)
    skus, need, shipments = found["skus"], found["need"], found["shipments"]
    tail = shipments_tail(shipments)
    words: dict[tuple[int, ...], tuple[dict[str, Any], str]] = {}
    candidates = [
        short_entry(c, skus, need, tail, words) if "stock" in c else c
        for c in trace.get("candidates", ())
    ]
    read = {key: value for key, value in trace.items() if key != FIGURES} | {
        "candidates": candidates
    }
    # The headline names the first losers in words: stored without one, it is made here;
    # one set by the application (a partial release, a merged order) is kept. First either way.
    said = read.pop("headline", None)
    if said is None:
        said = headline(
            read["chosen"],
            candidates,
            read["summary"],
            runner_up(candidates),
            read.get("optimiser"),
        )
    return {"headline": said} | read


def short_entry(
    candidate: Mapping[str, Any],
    skus: Sequence[str],
    need: Sequence[int],
    tail: str,
    words: dict[tuple[int, ...], tuple[dict[str, Any], str]] | None = None,
) -> dict[str, Any]:
    """One candidate as read: without its ``stock`` figures, and, if it was stored short of
    stock, with the SKUs it lacks, by how many units, in words. ``words``: the entries made
    so far by shortfall, shared by the warehouses short of the same units."""
    entry = dict(candidate)  # a copy in C, keys in place
    del entry["stock"]
    why = candidate.get("why_not")
    if why is None or "text" in why or why.get("reason") != "no_stock":
        return entry
    entry["why_not"], entry["verdict"] = short_words(candidate["stock"], skus, need, tail, words)
    return entry


def short_words(
    stock: Sequence[int],
    skus: Sequence[str],
    need: Sequence[int],
    tail: str,
    words: dict[tuple[int, ...], tuple[dict[str, Any], str]] | None = None,
) -> tuple[dict[str, Any], str]:
    """The why-not and verdict of a warehouse holding ``stock`` of ``skus`` (the order needs
    ``need``): the SKUs it is short of, by how many units."""
    if len(stock) != len(skus):
        raise ValueError(f"a trace's stock figures {list(stock)} do not match its SKUs {skus}")
    short = tuple(want - held if held < want else 0 for want, held in zip(need, stock, strict=True))
    made = None if words is None else words.get(short)
    if made is None:
        named = tuple(compress(skus, short))
        text = f"short of {', '.join(named)}{tail}"
        made = (
            {
                "reason": "no_stock",
                "short": dict(zip(named, filter(None, short), strict=True)),
                "text": text,
            },
            "lost: " + text,
        )
        if words is not None:
            words[short] = made
    return made
