"""Choosing a carrier service for a fulfilment order from the quotes of the carriers its
warehouse may use: pure, no I/O, no clock. ``policy``: the rule outcome ``carrier``;
``calendar``: business days; ``packages``: parcels from lines; ``choose``: the choice and
its trace."""
