"""EDI trading partners: files in (stored raw per interchange, deduplicated), interchanges
fanned out into one inbox row per transaction set, acknowledgements and documents rendered
with per-partner control numbers and written to the outbox."""
