"""leakhunt: find memory and lifecycle leaks in Python Kubernetes controllers.

The observer and the judge. It drives code through repeated cycles, samples
the process between them, and says with statistical confidence whether
anything grows, what grows, and who still holds it.
"""

from leakhunt.errors import LeakhuntError, UsageError

__all__ = ["LeakhuntError", "UsageError"]
