"""Acme: a webhook channel that is not part of omniroute, installed as a plugin.

The tests register ``AcmeConnector`` under the ``omniroute.connectors`` entry-point group by
writing a ``.dist-info`` folder at test time, so omniroute finds it exactly as it finds an
installed third-party package. Nothing in omniroute names Acme.
"""

from acme_connector.connector import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    AcmeConnector,
    sign,
)

__all__ = ["DELIVERY_HEADER", "EVENT_HEADER", "SIGNATURE_HEADER", "AcmeConnector", "sign"]
