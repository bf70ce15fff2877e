"""ANSI X12 EDI, the pure layer: tokenizer, envelope validation, serializer, 997/TA1,
850 → canonical order, and the outbound 855/856/810/846 documents.

No database, HTTP or clock: plain frozen dataclasses in, bytes or canonical dicts out.
Partners, intake endpoints and the outbox are wired on top of it.
"""
