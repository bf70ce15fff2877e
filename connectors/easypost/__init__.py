"""EasyPost: tracker webhooks (``tracker.created`` / ``tracker.updated``) as tracking events."""
