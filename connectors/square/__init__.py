"""Square (POS): order webhooks (HMAC-SHA256 over notification URL + body) and SearchOrders
polling in; fulfillment state and PHYSICAL_COUNT inventory out."""

from omniroute.connectors.square.client import SquareClient
from omniroute.connectors.square.connector import SquareConfig, SquareConnector, SquareSecrets

__all__ = ["SquareClient", "SquareConfig", "SquareConnector", "SquareSecrets"]
