"""Shopify channel connector: order webhooks and polling in, fulfillments and stock out."""

from connectors.shopify.client import ShopifyAdminClient
from connectors.shopify.connector import ShopifyConfig, ShopifyConnector, ShopifySecrets

__all__ = ["ShopifyAdminClient", "ShopifyConfig", "ShopifyConnector", "ShopifySecrets"]
