"""The engine decides the bench's orders, and a varied corpus like them, exactly as the
commit that wrote the golden digests did (tests/unit/engine_corpus.py): same plan, outcome,
promise, stored trace and trace as read, key order included. A speed-up of the hot path
must leave every digest as it is; a deliberate change of a decision rewrites the file
(``python -m tests.unit.engine_corpus``) in the commit that makes it, saying why."""

from __future__ import annotations

import json

from omniroute.routing.engine import decide
from tests.unit.engine_corpus import GOLDEN, corpus, digest, encoded


def test_every_decision_matches_its_golden_digest() -> None:
    golden = json.loads(GOLDEN.read_text())
    seen = {}
    for name, req in corpus():
        seen[name] = digest(decide(req))
    assert seen.keys() == golden.keys()
    changed = sorted(name for name in golden if seen[name] != golden[name])
    assert not changed, f"{len(changed)} decisions changed, first {changed[:5]}"


def test_a_prepared_set_decides_again_the_same_way() -> None:
    """Deciding the same requests twice over (caches of a prepared set warm the second
    time) gives the very same results."""
    reqs = [
        req for name, req in corpus() if name.startswith(("varied", "plain", "bench 5x50 prepared"))
    ]
    first = [encoded(decide(req)) for req in reqs]
    assert [encoded(decide(req)) for req in reversed(reqs)] == first[::-1]
