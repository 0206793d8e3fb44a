"""The ``airflow results`` command group (``list``, ``show``, ``rm``, ``gc``, ``sign``, ``explain``,
``invalidate``); implementations load lazily."""

from __future__ import annotations

from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command

from airflow_results_provider.core.rows import OWNERS

_COMMANDS = "airflow_results_provider.cli.commands"
_CACHE_COMMANDS = "airflow_results_provider.cli.cache_commands"

ARG_DAG_ID = Arg(("-d", "--dag-id"), help="Only results of this DAG")
ARG_RUN_ID = Arg(("-r", "--run-id"), help="Only results of this DAG run")
ARG_TASK_ID = Arg(("-t", "--task-id"), help="Only results of this task")
ARG_OWNER = Arg(("--owner",), help="Only results of this owner", choices=OWNERS)
ARG_OLDER_THAN = Arg(("--older-than",), help="Only results written longer ago than this (30d, 12h, 45m, 2w)")
ARG_LIMIT = Arg(("--limit",), help="Show at most this many results (default 100)", type=int, default=100)
ARG_OUTPUT = Arg(("-o", "--output"), help="Output format", choices=("table", "json"), default="table")
ARG_ID = Arg(
    ("result_id",), help="The result's id, as `airflow results list` shows it (dag/run/task/map_index/key)"
)
ARG_VALUE = Arg(
    ("--value",),
    help="Also load and print the value (says first what it will deserialize)",
    action="store_true",
)
ARG_YES = Arg(
    ("-y", "--yes"), help="Do it, without asking (gc: delete instead of the dry run)", action="store_true"
)
ARG_INCLUDE_CHECKPOINTS = Arg(
    ("--include-checkpoints",),
    help="Also delete mixin checkpoints and target hits (by default only payloads the XCom backend wrote)",
    action="store_true",
)
ARG_KEEP_LAST = Arg(("--keep-last",), help="Keep the newest N results of each DAG/task/key", type=int)
ARG_NO_ORPHANS = Arg(
    ("--no-orphans",),
    help="Do not scan the stores for orphans (payloads no XCom row refers to)",
    action="store_true",
)
ARG_STORE = Arg(
    ("--store",),
    help="Scan this store for orphans (repeatable; default: default_result, xcom_result and trusted_stores)",
    action="append",
)
ARG_GRACE = Arg(
    ("--grace",),
    help="Delete only orphans older than this (30m, 1h, 2d; default: [results] gc_grace)",
)

ARG_SIGN_STORE = Arg(
    ("--store",),
    help="Sign the records of this store (repeatable; default: default_result, xcom_result and trusted_stores)",
    action="append",
)
ARG_PREFIX = Arg(("--prefix",), help="Only records whose location starts with this", default="")
ARG_BARE_SERIALIZER = Arg(
    ("--bare-serializer",),
    help="Also sign payloads with no sidecar (legacy result handlers), as written by this serializer (pickle)",
)
ARG_SIGN_YES = Arg(
    ("-y", "--yes"), help="Sign (without it: a dry run that lists what it would sign)", action="store_true"
)

ARG_TASK_INSTANCE = Arg(
    ("task_instance",),
    help="DAG/RUN/TASK[/MAP_INDEX] (or -d, -r, -t, -m)",
    nargs="?",
    metavar="DAG/RUN/TASK[/MAP_INDEX]",
)
ARG_EXPLAIN_DAG_ID = Arg(("-d", "--dag-id"), help="The task instance's DAG")
ARG_EXPLAIN_RUN_ID = Arg(("-r", "--run-id"), help="The task instance's DAG run")
ARG_EXPLAIN_TASK_ID = Arg(("-t", "--task-id"), help="The task instance's task")
ARG_MAP_INDEX = Arg(("-m", "--map-index"), help="The task instance's map index (mapped tasks)", type=int)
ARG_CACHE_STORE = Arg(
    ("--store",),
    help="Look for the cache records in this store (repeatable; default: the stores the task's XCom rows name, "
    "then default_result, xcom_result and trusted_stores)",
    action="append",
)
ARG_INVALIDATE_DAG_ID = Arg(("-d", "--dag-id"), help="Remove the cache entries of this DAG", required=True)
ARG_INVALIDATE_TASK_ID = Arg(("-t", "--task-id"), help="Only the entries of this task")
ARG_KEY = Arg(("--key",), help="Only the entry of this cache key (or the keys starting with it)")
ARG_INVALIDATE_YES = Arg(
    ("-y", "--yes"),
    help="Remove (without it: a dry run that lists what it would remove)",
    action="store_true",
)

RESULTS_COMMANDS = (
    ActionCommand(
        name="list",
        help="List stored results (checkpoints, target hits, offloaded XCom values) from the metadata DB",
        func=lazy_load_command(f"{_COMMANDS}.list_results"),
        args=(ARG_DAG_ID, ARG_RUN_ID, ARG_TASK_ID, ARG_OWNER, ARG_OLDER_THAN, ARG_LIMIT, ARG_OUTPUT),
    ),
    ActionCommand(
        name="show",
        help="Show a result's metadata and preview (the value only with --value)",
        func=lazy_load_command(f"{_COMMANDS}.show_result"),
        args=(ARG_ID, ARG_VALUE, ARG_YES, ARG_OUTPUT),
    ),
    ActionCommand(
        name="rm",
        help="Delete stored results and their XCom rows (XCom-backend payloads only, unless --include-checkpoints)",
        func=lazy_load_command(f"{_COMMANDS}.remove_results"),
        args=(
            ARG_DAG_ID,
            ARG_RUN_ID,
            ARG_TASK_ID,
            ARG_OWNER,
            ARG_OLDER_THAN,
            ARG_INCLUDE_CHECKPOINTS,
            ARG_YES,
        ),
    ),
    ActionCommand(
        name="gc",
        help="Expire old results and delete orphans in every configured store (a dry run unless -y)",
        func=lazy_load_command(f"{_COMMANDS}.gc_results"),
        args=(
            ARG_OLDER_THAN,
            ARG_KEEP_LAST,
            ARG_NO_ORPHANS,
            ARG_INCLUDE_CHECKPOINTS,
            ARG_STORE,
            ARG_GRACE,
            ARG_YES,
        ),
    ),
    ActionCommand(
        name="sign",
        help="Sign records written by earlier versions or under a previous key, once you trust the store "
        "(a dry run unless -y)",
        func=lazy_load_command(f"{_COMMANDS}.sign_results"),
        args=(ARG_SIGN_STORE, ARG_PREFIX, ARG_BARE_SERIALIZER, ARG_SIGN_YES),
    ),
    ActionCommand(
        name="explain",
        help="Say whether a task instance's cache policy hit or missed, and which component of its key changed",
        func=lazy_load_command(f"{_CACHE_COMMANDS}.explain_cache"),
        args=(
            ARG_TASK_INSTANCE,
            ARG_EXPLAIN_DAG_ID,
            ARG_EXPLAIN_RUN_ID,
            ARG_EXPLAIN_TASK_ID,
            ARG_MAP_INDEX,
            ARG_CACHE_STORE,
            ARG_OUTPUT,
        ),
    ),
    ActionCommand(
        name="invalidate",
        help="Remove cache policy entries of a DAG, a task or a key, so the next run computes (a dry run unless -y)",
        func=lazy_load_command(f"{_CACHE_COMMANDS}.invalidate_cache"),
        args=(ARG_INVALIDATE_DAG_ID, ARG_INVALIDATE_TASK_ID, ARG_KEY, ARG_CACHE_STORE, ARG_INVALIDATE_YES),
    ),
)


def get_results_cli_commands() -> list[GroupCommand]:
    """The commands Airflow adds to its CLI (provider-info ``cli``)."""
    return [
        GroupCommand(name="results", help="Inspect and clean up stored results", subcommands=RESULTS_COMMANDS)
    ]
