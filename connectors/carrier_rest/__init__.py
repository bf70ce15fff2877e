"""A generic REST carrier or TMS: rates and bookings over HTTP, with idempotency keys."""
