"""Reference controllers: three correct ones, and one per anti-pattern.

What belongs here: small pod controllers that follow the controller contract
and that leakhunt is tested against, each with its entry point named
``controller`` (``leakhunt soak harness.controllers.<module>:controller``),
and the building blocks the correct ones share: a list+watch informer that
stops at once (:mod:`~harness.controllers.informer`), a work queue with
rate-limited retries (:mod:`~harness.controllers.workqueue`) and the structural
type of the context they are given (:mod:`~harness.controllers.context`).

The correct ones are :mod:`~harness.controllers.correct` (threads),
:mod:`~harness.controllers.correct_async` (kubernetes_asyncio) and
:mod:`~harness.controllers.kopf_operator`. Each leaky module documents, at its
top, the bug it carries, why it hurts a cluster and the finding leakhunt should
report for it; docs/controllers.md has them side by side. A module-level
registry or cache appears only where it is the bug being demonstrated.
"""
