"""Routers of the /v1 API, one per area of the business."""
