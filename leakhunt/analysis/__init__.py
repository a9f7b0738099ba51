"""Trend statistics on per-cycle series and the verdict that turns them into
findings.

``signals`` says how each named series is judged (finding kind, unit, minimum
growth); ``trend`` holds the statistics (Theil-Sen slope, Kendall trend test,
warm-up and plateau detection, exact deltas); ``thresholds`` the knobs a caller
can turn; ``verdict`` the pure function from series to findings; ``series``
the fixed-size recorder that holds samples without growing per cycle.
"""
