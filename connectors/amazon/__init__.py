"""Amazon SP-API channel connector: Orders v0 polling, shipment confirmation, listing stock."""

from omniroute.connectors.amazon.connector import AmazonConfig, AmazonConnector, AmazonSecrets

__all__ = ["AmazonConfig", "AmazonConnector", "AmazonSecrets"]
