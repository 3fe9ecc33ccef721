"""Observability: structured logs (structlog) and Prometheus metrics."""
