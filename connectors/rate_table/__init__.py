"""The built-in rate-table carrier: zones, weight breaks, surcharges and services with transit
days, configured per connector; no calls out."""
