"""AfterShip Tracking: ``tracking_update`` webhooks as tracking events."""
