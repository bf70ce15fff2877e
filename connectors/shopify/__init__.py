"""Shopify channel connector: order webhooks and polling in, fulfillments and stock out."""

from omniroute.connectors.shopify.client import ShopifyAdminClient
from omniroute.connectors.shopify.connector import ShopifyConfig, ShopifyConnector, ShopifySecrets

__all__ = ["ShopifyAdminClient", "ShopifyConfig", "ShopifyConnector", "ShopifySecrets"]
