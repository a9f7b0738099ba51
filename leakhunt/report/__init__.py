"""Reports of a run: the versioned JSON document, the terminal summary and the
renderers built on them."""
