"""Generic REST WMS: fulfilment orders POSTed as JSON with an Idempotency-Key."""

from omniroute.connectors.wms.rest.client import RestWmsClient
from omniroute.connectors.wms.rest.connector import RestWmsConfig, RestWmsConnector, RestWmsSecrets

__all__ = ["RestWmsClient", "RestWmsConfig", "RestWmsConnector", "RestWmsSecrets"]
