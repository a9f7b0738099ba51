"""A Kubernetes API server simulator that real clients run against.

It runs as its own process on loopback: an in-memory store with one global,
increasing resourceVersion, LIST with pagination, WATCH with bookmarks and
410 Gone after compaction, selectors, the usual verbs, discovery, CRDs, an
audit of every request and ``/metrics`` under kube-apiserver's metric names.
"""
