"""omniroute: integration hub and omnichannel order router.

The repository keeps the card's folders at its top (``api/``, ``connectors/``, ``core/``,
``mapping/``, ``routing/``, ``worker/``, ``migrations/``); this package makes each of them a
subpackage (the entries here are links to those folders), so an install adds the one import
name ``omniroute`` and nothing else. Import them as ``omniroute.core``, never as ``core``.
"""
