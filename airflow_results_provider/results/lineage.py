"""Hook-level lineage: every Result read and write reports its location to Airflow's lineage collector.

Airflow's ``HookLineageCollector`` (``airflow.sdk.lineage``) gathers the assets a task's hooks read and wrote;
the OpenLineage provider turns them into the inputs and outputs of the task's run events. A Result read or
write reports exactly one asset, the URI of its location (``file:///…``, ``s3://bucket/key``, ``gs://…``,
``abfs://container@account.dfs.core.windows.net/key``), never one per chunk, part, sidecar, lease or
signature object: the commit protocol's own objects go through the store's SDK clients, which report nothing,
and a list stored in chunks reports its base location once (:func:`reported_once`).

Reporting is cheap and never fails a task: nothing is collected when no lineage reader is registered (no
OpenLineage provider) or outside a task (no plugins loaded), and any error is logged at debug level and
swallowed. Inline, constant, secret and
handler-backed Results report nothing (they have no location, and a secret's name must not leave the task).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any, Literal

log = logging.getLogger(__name__)

Direction = Literal["input", "output"]

#: Set while a group of reads or writes reports as one asset (the chunks of one list).
_SUPPRESSED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "results_lineage_suppressed", default=False
)


class ResultLineageContext:
    """The one ``context`` every Result report is filed under.

    The collector keeps one entry per (asset URI, extra, ``id(context)``): a single context makes two reads of
    the same location (or two Result copies writing it) one entry with a count of two, not two datasets."""

    def __repr__(self) -> str:
        return "<airflow-results-provider Result>"


RESULT_LINEAGE_CONTEXT = ResultLineageContext()


def report_result(direction: Direction, result: Any, location: str) -> None:
    """Report the read (``"input"``) or write (``"output"``) of ``result`` at ``location``; never raises.

    Only payload records of storing Results are reported (see :func:`lineage_uri`)."""
    if _SUPPRESSED.get():
        return
    try:
        collector = _collector()  # first: without one, not even the URI is worked out
        uri = lineage_uri(result, location) if collector is not None else None
        if uri:
            _add(collector, direction, uri)
    except Exception:  # lineage must never fail a task
        log.debug("Could not report the lineage of a Result at %r", location, exc_info=True)


@contextlib.contextmanager
def reported_once(direction: Direction, result: Any, location: str) -> Iterator[None]:
    """Reads or writes inside the block report nothing; when it succeeds, ``location`` is reported once.

    For values stored as several Result objects (the chunks of a list that feeds mapped tasks): lineage names
    the value, not its parts."""
    token = _SUPPRESSED.set(True)
    try:
        yield
    finally:
        _SUPPRESSED.reset(token)
    report_result(direction, result, location)


def lineage_uri(result: Any, location: str) -> str | None:
    """The URI reported for ``result`` at ``location``, or ``None`` when nothing is reported.

    ``None`` for Results that keep no payload in a store (inline, constant, secret: not ``persistent``) and
    for the package's bookkeeping records (cache entries, loop state: ``record_kind`` other than ``result``).
    A store may override ``lineage_uri(location)`` to name its location more fully (Azure adds the account)."""
    if not getattr(type(result), "persistent", False):
        return None
    from airflow_results_provider.core.signing import RECORD_RESULT

    if getattr(result, "record_kind", None) != RECORD_RESULT:
        return None
    own = getattr(result, "lineage_uri", None)
    uri = own(location) if callable(own) else result.uri(location)
    return str(uri) if uri else None


def _add(collector: Any, direction: Direction, uri: str) -> None:
    if direction == "input":
        collector.add_input_asset(context=RESULT_LINEAGE_CONTEXT, uri=uri)
    else:
        collector.add_output_asset(context=RESULT_LINEAGE_CONTEXT, uri=uri)


def _collector() -> Any:
    """Airflow's process-wide hook lineage collector, or ``None`` when nothing would read what it collects.

    Creating the collector loads every provider's asset factories (seconds); without a registered lineage
    reader it would be Airflow's no-op collector anyway, so it is not created here then."""
    try:
        from airflow.sdk.lineage import get_hook_lineage_collector
    except ImportError:  # older layouts keep it beside the deprecated lineage package
        from airflow.lineage.hook import get_hook_lineage_collector  # type: ignore[no-redef]

    cache_info = getattr(get_hook_lineage_collector, "cache_info", None)
    if cache_info is not None and cache_info().currsize == 0 and not _has_lineage_readers():
        return None
    return get_hook_lineage_collector()


def _has_lineage_readers() -> bool:
    """Whether a plugin registered a hook lineage reader (the OpenLineage provider does when enabled).

    ``False`` at once when this process has loaded no plugins: a task runner loads them (its listeners)
    before the task runs, so a process without them (a CLI command, a test) has no reader to feed, and
    loading them here would cost it seconds."""
    try:
        from airflow.sdk import plugins_manager

        loaded = getattr(plugins_manager._get_plugins, "cache_info", None)
        if loaded is not None and loaded().currsize == 0:
            return False
        return bool(plugins_manager.get_hook_lineage_readers_plugins())
    except Exception:  # an Airflow without these helpers: let its getter decide
        return True
