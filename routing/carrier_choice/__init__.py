"""Choosing a carrier service for a fulfilment order from the quotes of the carriers its
warehouse may use: pure, no I/O, no clock. ``quotes``: the value types carriers
are asked and answer with; ``policy``: the rule outcome ``carrier``;
``calendar``: business days; ``packages``: parcels from lines; ``choose``: the choice and
its trace."""
