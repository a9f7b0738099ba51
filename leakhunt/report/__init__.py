"""Reports of a run: the versioned JSON document, the terminal summary and the
renderers built on them.

``model`` holds :class:`~leakhunt.report.model.Report` and
:class:`~leakhunt.report.model.Finding` with their JSON form
(``leakhunt.report/v1``); ``terminal`` renders a report for people, with
``evidence`` printing the attribution under each finding; ``html`` writes
the self-contained page, with ``plots`` drawing its inline SVG; ``graph``
writes retention chains as Graphviz files.
"""
