"""Carrier tracking: checkpoints recorded against shipments, their canonical status, and
the orders that are delivered once every shipment is."""
