"""Scheduled papermill reports: ``reports/schedule.toml`` → executed notebooks + offline HTML.

Modules, by concern: :mod:`.schedule` (the schedule file, cron), :mod:`.parameters` (types,
against the notebook's parameters cell), :mod:`.choices` (values from a closed set),
:mod:`.prepare` (a run's checked parameters, its as-of, ad hoc runs), :mod:`.runner` (one
run: papermill, atomic output, failures), :mod:`.render` (the executed notebook annotated,
its page written), :mod:`.html` (the page: template, plotly.js, hidden cells),
:mod:`.tables` (tables for readers), :mod:`.changes` (key figures against the previous run),
:mod:`.state` (run history, the folder lock), :mod:`.due` and :mod:`.worker` (``run-due``),
:mod:`.index` (the index page), :mod:`.records` (key figures notebooks record),
:mod:`.redaction` (no secret in any output), :mod:`.signals` (interrupted and timed-out runs),
:mod:`.rules` (targets, checks, alerts, retention in the schedule), :mod:`.publish` (what a
finished run leads to), :mod:`.gates` (checks that hold a run), :mod:`.alerts`,
:mod:`.messages` and :mod:`.delivery` (mail and webhooks through an outbox),
:mod:`.datastamp` (has the data changed), :mod:`.history` (history and diff),
:mod:`.retention` (pruning), :mod:`.serve` (run-due every minute), :mod:`.locks` (advisory
locks of runs) and :mod:`.executors` (local or Dask).

Only :func:`record` is imported here: notebooks import this package, and the rest pulls in
papermill and nbconvert, which a kernel does not need.
"""

from iwm_lab.reports.records import record

__all__ = ["record"]
