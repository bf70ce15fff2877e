"""Generic REST ERP: sales orders and invoices POSTed with an Idempotency-Key; stock on
hand, the item master and the invoice list read with GET."""

from omniroute.connectors.erp_rest.config import ErpRestConfig, ErpRestSecrets
from omniroute.connectors.erp_rest.connector import ErpRestConnector

__all__ = ["ErpRestConfig", "ErpRestConnector", "ErpRestSecrets"]
