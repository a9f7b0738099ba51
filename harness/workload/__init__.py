"""Workloads and faults for an API server: seeding, churn, dropped watches,
expired watches, error bursts and latency."""
