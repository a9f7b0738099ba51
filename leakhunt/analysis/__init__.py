"""Trend statistics on per-cycle series and the verdict that turns them into
findings."""
