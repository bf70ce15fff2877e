"""UN/EDIFACT trading partners, the pure layer: interchanges read and checked, ORDERS into
canonical orders, CONTRL, ORDRSP, DESADV and INVOIC written. No I/O and no clock: text and
frozen dataclasses in, text and dicts out. pydifact is used only by ``adapter``."""
