"""Generic REST WMS: fulfilment orders POSTed as JSON with an Idempotency-Key."""

from connectors.wms.rest.client import RestWmsClient
from connectors.wms.rest.connector import RestWmsConfig, RestWmsConnector, RestWmsSecrets

__all__ = ["RestWmsClient", "RestWmsConfig", "RestWmsConnector", "RestWmsSecrets"]
