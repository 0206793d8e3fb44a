"""``airflow results list/show/rm/gc``: thin wrappers over :mod:`airflow_results_provider.index`."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

from airflow_results_provider import index
from airflow_results_provider.core.formatting import format_size


def _session() -> Any:
    from airflow.utils.session import create_session

    return create_session()


def _age(text: str) -> dt.timedelta:
    try:
        return index.parse_age(text)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def _cutoff(older_than: str | None) -> dt.datetime | None:
    return dt.datetime.now(dt.timezone.utc) - _age(older_than) if older_than else None


def _filters(args: Any) -> index.Filters:
    return index.Filters(
        dag_id=getattr(args, "dag_id", None),
        run_id=getattr(args, "run_id", None),
        task_id=getattr(args, "task_id", None),
        owner=getattr(args, "owner", None),
        older_than=_cutoff(getattr(args, "older_than", None)),
    )


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        print(f"{question} Not confirmed (no terminal): pass -y.", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _printable(value: Any) -> str:
    """Recorded text as one printable line: every non-printable character (a terminal control sequence, a line
    break) replaced."""
    text = "" if value is None else str(value)
    return "".join(c if c.isprintable() else "\N{REPLACEMENT CHARACTER}" for c in text)


def _plain(cell: Any) -> Any:
    """A table cell from row data, shown as the text it is: never rich markup (links, styles), never a
    terminal control sequence."""
    from rich.text import Text

    return Text(_printable(cell))


def list_results(args: Any) -> None:
    """``airflow results list``: the stored results matching the filters, newest first (a table or JSON)."""
    from rich.console import Console
    from rich.table import Table

    with _session() as session:
        records = []
        for record in index.iter_records(session, _filters(args), order_newest=True):
            records.append(record)
            if len(records) >= args.limit:
                break
    if args.output == "json":
        print(json.dumps([r.as_dict() for r in records], indent=2, default=str))
        return
    table = Table("id", "owner", "result", "location", "serializer", "size", "written_at", "try", box=None)
    for r in records:
        owner = r.owner + ("" if r.verified else " (unverified)")
        cells = (
            r.id,
            owner,
            r.result,
            r.location,
            r.serializer,
            format_size(r.size),
            r.written_at,
            r.try_number,
        )
        table.add_row(*(_plain(cell) for cell in cells))
    Console(width=max(200, Console().width)).print(table)
    print(
        f"{len(records)} result(s)"
        + (f" (first {args.limit}; use --limit)" if len(records) >= args.limit else "")
    )


def show_result(args: Any) -> None:
    """``airflow results show ID``: one result's record and metadata sidecar; ``--value`` loads the value (verified first)."""

    with _session() as session:
        try:
            record = index.get_record(session, args.result_id)
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
    if record is None:
        raise SystemExit(f"No stored result {args.result_id!r} (see `airflow results list`)")
    metadata = index.read_metadata(record) or {}
    index.check_exists([record])
    detail = {**record.as_dict(), "metadata": metadata}
    if args.output == "json":
        print(json.dumps(detail, indent=2, default=str))
    else:
        for name, value in record.as_dict().items():
            if value not in (None, "", {}):
                print(f"{name:>13}: {value}")
        preview = metadata.get("preview_data")
        print("      preview:")
        print(_format_preview(preview, record.preview or metadata.get("preview")))
    if args.value:
        _print_value(record, metadata, args.yes)


def _format_preview(preview: Any, text: str | None) -> str:
    if isinstance(preview, dict):
        kind = preview.get("kind")
        if kind == "json":
            return json.dumps(preview.get("data"), indent=2, default=str)
        if kind == "text":
            return str(preview.get("text"))
        if kind == "hex":
            return f"{preview.get('size')} bytes: {preview.get('hex')}"
        if kind == "table":
            rows = [" | ".join(preview.get("columns", []))]
            rows.append(" | ".join(preview.get("dtypes", [])))
            rows += [" | ".join(row) for row in preview.get("rows", [])]
            return f"DataFrame {preview.get('shape')}\n" + "\n".join(rows)
    return text or "(no preview recorded)"


def _print_value(record: index.Record, metadata: dict[str, Any], yes: bool) -> None:
    from airflow_results_provider.serializers._labels import serializer_from_label

    if not record.verified:
        raise SystemExit("Refusing to load the value: its XCom row is not signed with this deployment's key")
    result = index.result_for(record)
    if result is None or not record.key:
        raise SystemExit("This result has no store to load from")
    serializer = serializer_from_label(str(record.serializer))
    danger = " Unpickling runs code from the payload." if serializer.loads_code else ""
    print(
        f"Loading {record.location}: {format_size(record.size)}, serializer {serializer.label}, type "
        f"{record.python_type or metadata.get('python_type') or 'unknown'}, sha256 {record.sha256} (verified before "
        f"loading).{danger}",
        file=sys.stderr,
    )
    if serializer.loads_code and not yes and not _confirm("Load it?"):
        raise SystemExit(1)
    result.serializer = serializer
    if record.kind == "sequence":
        raise SystemExit("This value is a chunked list: load it in a task (xcom_pull)")
    value = result.read(record.key, sha256=record.sha256).value  # the signed digest, checked before loading
    print(repr(value))


def remove_results(args: Any) -> None:
    """``airflow results rm``: delete the matching results' payloads and rows (checkpoints only when asked)."""
    if not (args.dag_id or args.run_id or args.task_id or args.older_than):
        raise SystemExit("Name what to delete: --dag-id, --run-id, --task-id and/or --older-than")
    with _session() as session:
        records = list(index.iter_records(session, _filters(args)))
        doomed = [r for r in records if index.deletable(r, include_checkpoints=args.include_checkpoints)]
        kept = len(records) - len(doomed)
        total = sum(r.size or 0 for r in doomed)
        for r in doomed:
            print(f"  {r.owner:10} {r.location}  {format_size(r.size)}")
        note = f" ({kept} checkpoint(s)/target(s) kept: --include-checkpoints)" if kept else ""
        if not doomed:
            print(f"Nothing to delete{note}.")
            return
        if not args.yes and not _confirm(f"Delete {len(doomed)} result(s), {format_size(total)}{note}?"):
            raise SystemExit(1)
        freed = index.delete_records(session, doomed)
    print(f"Deleted {len(doomed)} result(s), {format_size(freed)} freed{note}.")


def gc_results(args: Any) -> None:
    """``airflow results gc``: expire old results and delete orphaned payloads of the configured stores."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    dry_run = not args.yes
    stores = args.store or index.configured_stores()
    console = Console(stderr=True)
    with (
        _session() as session,
        Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar,
    ):
        task = bar.add_task("Reading the index", total=None)

        def progress(store: str, scanned: int) -> None:
            bar.update(task, description=f"Scanning {store or 'local_dir'}: {scanned:,} objects")

        verbose = []

        def on_delete(uri: str, size: int) -> None:
            if len(verbose) < 20:
                verbose.append(f"  {uri}  {format_size(size)}")

        plan = index.gc(
            session,
            stores=stores,
            older_than=_cutoff(args.older_than),
            keep_last=args.keep_last,
            orphans=not args.no_orphans,
            include_checkpoints=args.include_checkpoints,
            dry_run=dry_run,
            progress=progress,
            on_delete=on_delete,
            grace=_age(args.grace) if getattr(args, "grace", None) else None,
        )
    _print_gc_report(plan, verbose, len(list(stores)), dry_run)


def _print_gc_report(plan: Any, verbose: list[str], stores: int, dry_run: bool) -> None:
    """What gc deleted (or would delete), kept, and failed on; exits 1 after any error."""
    for line in verbose:
        print(line)
    if plan.records + plan.orphans > len(verbose):
        print(f"  … and {plan.records + plan.orphans - len(verbose)} more")
    verb = "Would delete" if dry_run else "Deleted"
    print(
        f"{verb} {plan.records} expired result(s) ({format_size(plan.record_bytes)}) and {plan.orphans} orphan(s) "
        f"({format_size(plan.orphan_bytes)}); {format_size(plan.record_bytes + plan.orphan_bytes)} in all. "
        f"Scanned {plan.scanned:,} stored object(s) in {stores} store(s)."
    )
    if plan.kept_checkpoints:
        print(
            f"Kept {plan.kept_checkpoints} referenced checkpoint(s)/target(s) (--include-checkpoints deletes them)."
        )
    if plan.kept_unowned:
        print(
            f"Kept {plan.kept_unowned} unreferenced payload(s) the XCom backend did not write (checkpoints, "
            "cache entries, loop state): never orphans."
        )
    if dry_run:
        print("Dry run: nothing was deleted. Pass -y to delete.")
    for error in plan.errors:
        print(f"error: {error}", file=sys.stderr)
    if plan.errors:
        raise SystemExit(1)


def sign_results(args: Any) -> None:
    """``airflow results sign``: sign the records of the configured stores that carry no valid signature."""
    from airflow_results_provider.index.resign import sign_stores

    dry_run = not args.yes
    stores = args.store or index.configured_stores()
    shown: list[str] = []

    def on_sign(uri: str) -> None:
        if len(shown) < 20:
            shown.append(uri)
            print(f"  {uri}")

    plan = sign_stores(
        stores,
        prefix=args.prefix or "",
        bare_serializer=args.bare_serializer,
        dry_run=dry_run,
        on_sign=on_sign,
    )
    if plan.signed > len(shown):
        print(f"  … and {plan.signed - len(shown)} more")
    verb = "Would sign" if dry_run else "Signed"
    print(
        f"{verb} {plan.signed} record(s); {plan.already_signed} already signed; scanned {plan.scanned:,} "
        f"payload(s) in {len(list(stores))} store(s)."
    )
    if dry_run:
        print(
            "Dry run: nothing was signed. Pass -y to sign (only stores you trust: signing vouches for them)."
        )
    for error in plan.errors:
        print(f"error: {error}", file=sys.stderr)
    if plan.errors:
        raise SystemExit(1)
