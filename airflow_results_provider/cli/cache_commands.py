"""``airflow results explain/invalidate``: what a task instance's cache policy decided, and removing entries.

Thin wrappers over :mod:`airflow_results_provider.index.cache_records`. Recorded fields are untrusted text: they
are printed with non-printable characters replaced, never as terminal markup.
"""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import unquote

from airflow_results_provider.cli.commands import _plain, _printable, _session


def parse_task_instance(args: Any) -> tuple[str, str, str, int | None]:
    """``(dag_id, run_id, task_id, map_index)`` from ``DAG/RUN/TASK[/MAP_INDEX]`` (URL-quoted parts, as
    ``airflow results list`` shows ids) or from ``-d/-r/-t[/-m]``; a run id may itself contain ``/``."""
    given = getattr(args, "task_instance", None)
    dag_id, run_id, task_id = args.dag_id, args.run_id, args.task_id
    map_index = args.map_index
    if given:
        parts = [unquote(p) for p in given.split("/")]
        if len(parts) >= 4 and parts[-1].lstrip("-").isdigit():
            map_index = int(parts.pop())
        if len(parts) < 3:
            raise SystemExit(f"A task instance is DAG/RUN/TASK[/MAP_INDEX], got {given!r}")
        dag_id, run_id, task_id = parts[0], "/".join(parts[1:-1]), parts[-1]
    if not (dag_id and run_id and task_id):
        raise SystemExit(
            "Name the task instance: DAG/RUN/TASK[/MAP_INDEX], or -d DAG -r RUN -t TASK [-m INDEX]"
        )
    return dag_id, run_id, task_id, None if map_index is None or map_index < 0 else map_index


def explain_cache(args: Any) -> None:
    """``airflow results explain``: hit or miss, key, policy, reason and the key's components of one task
    instance, compared with the newest entry for the task; exits 1 when it recorded no decision."""
    from airflow_results_provider.index import cache_records

    dag_id, run_id, task_id, map_index = parse_task_instance(args)
    if args.store:
        stores = list(args.store)
    else:
        with _session() as session:
            stores = cache_records.task_instance_stores(
                session, dag_id, run_id, task_id, -1 if map_index is None else map_index
            )
    decision = cache_records.find_decision(dag_id, run_id, task_id, map_index, stores)
    name = f"{dag_id}/{run_id}/{task_id}" + ("" if map_index is None else f"/{map_index}")
    if decision is None:
        raise SystemExit(
            f"No cache decision recorded for {_printable(name)}: the task has no cache policy (cache_policy=), did "
            f"not run, or keeps its records in a store not searched here ({', '.join(s or 'local_dir' for s in stores)}"
            "; name it with --store URL)."
        )
    if args.output == "json":
        print(json.dumps({"task_instance": name, **decision.as_dict()}, indent=2, default=str))
        return
    _print_decision(name, decision)


def _print_decision(name: str, decision: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from airflow_results_provider.index.cache_records import short

    print(f"Cache {decision.outcome} for {_printable(name)}")
    lines = [
        ("key", decision.text("key")),
        ("policy", decision.text("policy")),
        ("reason", decision.text("reason")),
        ("decided at", decision.text("decided_at")),
        ("hit from run", decision.text("from_run_id")),
        ("record", decision.uri),
    ]
    latest = decision.latest
    if latest is None:
        lines.append(("newest entry", "none (invalidated, or never written)"))
    else:
        this = " (this key)" if decision.newest_is_this_key else ""
        lines.append(
            (
                "newest entry",
                f"key {short(latest.get('key'))}{this}, written by run {latest.get('run_id')} at "
                f"{latest.get('written_at')}",
            )
        )
    for label, value in lines:
        if value:
            print(f"{label:>13}: {_printable(value)}")
    table = Table("component", "digest", "newest entry", "change", box=None)
    for c in decision.components():
        cells = (c.name, short(c.digest) if c.digest else "-", short(c.newest) if c.newest else "-", c.change)
        table.add_row(*(_plain(cell) for cell in cells))
    Console(width=max(120, Console().width)).print(table)


def _dag_stores(dag_id: str) -> list[str]:
    """The URL stores the DAG's verified rows name, then the configured ones."""
    from airflow_results_provider import index
    from airflow_results_provider.index.cache_records import stores_named_by

    with _session() as session:
        return stores_named_by(index.iter_records(session, index.Filters(dag_id=dag_id)))


def invalidate_cache(args: Any) -> None:
    """``airflow results invalidate``: remove the policy cache entries of a DAG (a task, a key); a dry run
    unless ``-y``. Checkpoints an entry points at and the recorded decisions stay."""
    from airflow_results_provider.index import cache_records

    key = (args.key or "").strip().rstrip("…").lower() or None
    if key is not None and not all(c in "0123456789abcdef" for c in key):
        raise SystemExit(f"--key: a cache key is hexadecimal (as explain shows it), got {key!r}")
    stores = list(args.store) if args.store else _dag_stores(args.dag_id)
    listing = cache_records.list_entries(args.dag_id, stores, task_id=args.task_id, key=key)
    for entry in listing.entries:
        r = entry.record
        print(
            f"  {_printable(entry.task_id):20} {entry.key[:12]}  run {_printable(r.get('run_id'))}  written "
            f"{_printable(r.get('written_at'))}  ({entry.store or 'local_dir'})"
        )
    for uri in listing.unverified:
        print(f"  kept (signature does not verify: never a hit): {_printable(uri)}")
    scope = (
        f"DAG {args.dag_id}"
        + (f", task {args.task_id}" if args.task_id else "")
        + (f", key {key}…" if key else "")
    )
    if not listing.entries:
        print(f"No cache entries of {_printable(scope)} in {len(stores)} store(s).")
        _report_errors(listing.errors)
        return
    dry_run = not args.yes
    done = cache_records.invalidate(listing.entries, dry_run=dry_run)
    verb = "Would remove" if dry_run else "Removed"
    for uri in done.removed:
        print(f"  {verb.lower()} {_printable(uri)}")
    print(
        f"{verb} {len(listing.entries)} cache entr{'y' if len(listing.entries) == 1 else 'ies'} of {_printable(scope)} "
        f"({len(done.removed)} file(s)); checkpoints and recorded decisions stay."
    )
    if dry_run:
        print("Dry run: nothing was removed. Pass -y to remove.")
    _report_errors(listing.errors + done.errors)


def _report_errors(errors: list[str]) -> None:
    for error in errors:
        print(f"error: {_printable(error)}", file=sys.stderr)
    if errors:
        raise SystemExit(1)
