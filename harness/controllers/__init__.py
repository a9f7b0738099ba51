"""Reference controllers: one correct, and one per anti-pattern.

Each leaky module documents, at its top, the bug it carries and the finding
leakhunt should report for it.
"""
