"""Findings: the one or two sentences that open a report section, computed from its data.

One module per analysis area, like :mod:`iwm_lab.queries` and :mod:`iwm_lab.charts`. Each
function takes the frames that query functions return (and the run's context, such as its
as-of) and gives Markdown sentences; findings never query. A report states what matters
first, and every number in those sentences comes from here, so it is tested like the
queries are.
"""
