"""A person's fixes of what a channel sent, made before a warehouse has the order: the
shipping address (``address``) and a line's quantity (``quantity``).

A fix is kept on the order (``sales_order.fixes``, migration 0026) beside what the channel
sent, and the order's latest inbox row is replayed, so the order is validated and routed by
the same processing as any order. Intake puts the fixes on each version from the channel
that still carries what was fixed (``apply.keep_fixes``); a version that changes it wins.
"""
