"""Generic channel: Standard Webhooks signed order events and CSV/JSON order uploads."""
