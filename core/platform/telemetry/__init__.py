"""Observability: metrics read from the database at scrape time, structured logs, and the
correlation id that follows one order from its webhook to its warehouse."""
