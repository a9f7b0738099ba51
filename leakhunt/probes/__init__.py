"""Signal sources sampled once per cycle: process, Python heap, objects,
memray, watches and the API server's side. One module per source.

Every probe follows :class:`leakhunt.probes.base.Probe`: ``start()``, a cheap
``sample()`` of named scalar signals, ``details()`` with the evidence behind
the latest sample, and ``stop()``. A probe keeps no state that grows with the
number of cycles: at most the previous sample and a baseline taken at start.
"""
