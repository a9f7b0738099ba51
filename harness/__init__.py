"""The world a controller under test lives in.

``harness`` knows Kubernetes and nothing about memory: an API server simulator
(:mod:`harness.apiserver`), workloads and faults to drive it
(:mod:`harness.workload`), the controller contract and the scenarios that run
a controller through its lifecycle (:mod:`harness.lifecycle`), and reference
controllers, correct and leaky (:mod:`harness.controllers`).

It never imports :mod:`leakhunt`; the observer depends on the world, not the
other way round.
"""
