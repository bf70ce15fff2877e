"""WooCommerce channel connector: order webhooks and REST v3 polling in, tracking and stock out."""

from omniroute.connectors.woocommerce.client import WooCommerceClient
from omniroute.connectors.woocommerce.connector import (
    WooCommerceConfig,
    WooCommerceConnector,
    WooCommerceSecrets,
)

__all__ = ["WooCommerceClient", "WooCommerceConfig", "WooCommerceConnector", "WooCommerceSecrets"]
