"""Signal sources sampled once per cycle: process, Python heap, objects,
memray, watches and the API server's side. One module per source."""
