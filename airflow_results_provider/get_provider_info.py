"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

Pure data: importing this module must stay free of Airflow and of anything heavy.
"""

from __future__ import annotations

from typing import Any

from airflow_results_provider.version import __version__

#: The documentation site; the same URL as ``[project.urls] Documentation`` in pyproject.toml, from which
#: Airflow fills ``documentation-url`` (shown on its Providers page) for installed distributions.
DOCS_URL = "https://airflow-results-provider.readthedocs.io/"


def _option(description: str, type_: str, default: str | None, example: str | None = None, **extra: Any):
    option: dict[str, Any] = {
        "description": description,
        "version_added": "0.1.0",
        "type": type_,
        "example": example,
        "default": default,
    }
    option.update(extra)
    return option


RESULTS_CONFIG_OPTIONS: dict[str, dict[str, Any]] = {
    "checkpointing": _option(
        "Global switch for checkpointing. When False, no task return value is written to a Result, "
        "whatever the task or DAG asks for (targets are still read).",
        "boolean",
        "True",
        "False",
    ),
    "assets": _option(
        "Make every checkpointed task's result an Airflow asset (as ``asset=True`` on each task does): the "
        "task's outlets get the asset ``airflow-results://<dag_id>/<task_id>`` and each checkpoint write emits "
        "an asset event describing the stored value, so DAGs can be scheduled on it. A task's ``asset=False`` "
        "wins. See docs/assets-and-lineage.md.",
        "boolean",
        "False",
        "True",
        version_added="0.2.0",
    ),
    "default_result": _option(
        "Where checkpoints go when a task gives no ``result=``. A URL (``file:///data/results``, "
        "``s3://bucket/prefix``, ``gs://bucket/prefix``, ``abfs://container/prefix``) or ``module:attribute`` "
        "naming a Result object. Empty means a LocalResult in ``local_dir``.",
        "string",
        "",
        "s3://aws_default@my-bucket/results",
    ),
    "local_dir": _option(
        "Base directory of LocalResult when no ``dir`` is given.",
        "string",
        "{AIRFLOW_HOME}/results",
        "/data/airflow/results",
    ),
    "inline_max_bytes": _option(
        "Largest JSON text (in bytes) an InlineResult / PrefectResult may hold. Larger values raise an error "
        "that suggests a storage Result.",
        "integer",
        "65536",
        "1048576",
    ),
    "xcom_result": _option(
        "Where the ResultXComBackend puts XCom values (same forms as ``default_result``). Empty means "
        "``default_result``.",
        "string",
        "",
        "file:///data/xcom",
    ),
    "xcom_inline_threshold": _option(
        "XCom values whose JSON text is at most this many bytes stay plain JSON rows in the metadata DB, "
        "exactly like Airflow's default backend. -1 keeps every JSON-able value in the DB.",
        "integer",
        "1024",
        "0",
    ),
    "xcom_serializer": _option(
        "Serializer of offloaded XCom values: ``auto`` (JSON when JSON-able, else pickle), ``json`` or "
        "``pickle``.",
        "string",
        "auto",
        "pickle",
    ),
    "purge": _option(
        "What clearing or retrying a task does to objects the XCom backend wrote: ``never`` keeps them "
        "(checkpoints survive), ``on_clear`` deletes them.",
        "string",
        "never",
        "on_clear",
    ),
    "gc_grace": _option(
        "``airflow results gc`` deletes an orphan (a payload the XCom backend wrote that no XCom row refers to) "
        "only when it is older than this (``30m``, ``1h``, ``2d``): a payload written a moment before its row "
        "exists is never taken for one. Checkpoints, targets, cache entries and loop state are never orphans.",
        "string",
        "1h",
        "6h",
    ),
    "cache_policy": _option(
        "The cache policy of every Result task that sets none (``cache_policy=`` on the task or in "
        "``default_args`` wins): policy names joined with ``+``, e.g. ``INPUTS + TASK_SOURCE``; empty or ``NONE``: "
        "no policy cache (docs/caching.md).",
        "string",
        "",
        "INPUTS + TASK_SOURCE",
    ),
    "cache_wait_timeout": _option(
        "Seconds a task waits for another task instance computing the same cache key (single-flight) before it "
        "fails with CacheClaimTimeoutError.",
        "integer",
        "3600",
        "600",
    ),
    "cache_claim_ttl": _option(
        "Seconds a computing task's claim on a cache key lives in an object store without being renewed (its "
        "holder renews it while alive): a killed holder's claim is taken over after this. Local stores use "
        "file locks the kernel releases at once.",
        "integer",
        "60",
        "120",
    ),
    "signing_key": _option(
        "Secret key for HMAC-signing XCom envelopes. Envelopes are always signed: when this is empty, the key "
        "is derived from ``[api] secret_key`` (which every Airflow component of a deployment already shares). "
        "A reader verifies the signature, and that it covers the very XCom row being pulled (DAG, task, run, "
        "map index, key), before it touches the payload. At least 32 bytes (e.g. ``secrets.token_hex(32)``).",
        "string",
        "",
        None,
        sensitive=True,
    ),
    "trusted_stores": _option(
        "Extra stores (comma-separated, same forms as ``default_result``) that unsigned XCom envelopes may "
        "point into, besides ``xcom_result`` and ``default_result``. Signed envelopes may point anywhere their "
        "writer (a worker holding the key) wrote.",
        "string",
        "",
        "s3://archive-bucket/results",
    ),
    "allow_unsigned_envelopes": _option(
        "Migration switch: read XCom envelopes that carry no signature although this deployment has a signing "
        "key (rows written before signing was enabled), when they point into a configured store; every such "
        "read is logged as a warning. Off, a user who may write XCom rows cannot make a worker read another "
        "DAG's payload. Unsigned pickles additionally need ``allow_unsigned_pickle``.",
        "boolean",
        "False",
        "True",
    ),
    "allow_unsigned_pickle": _option(
        "Load pickled payloads that carry no valid signature: of XCom envelopes (e.g. written before signing was "
        "enabled) and of stored records (checkpoints, targets, cache entries, loop state written by earlier "
        "versions or under another key), each read logged as a warning. Anyone who can write an XCom row or the "
        "store could then get code run on a worker: keep it False, and sign old records once with "
        "``airflow results sign`` instead.",
        "boolean",
        "False",
        "True",
    ),
    "ui_load_preview": _option(
        "Let the Results page (UI plugin) read a JSON payload to show it in full, up to "
        "``ui_preview_max_bytes``. Otherwise it shows only the preview computed when the value was written. "
        "Other payloads are never read by the API server (nothing is unpickled there).",
        "boolean",
        "False",
        "True",
        version_added="0.2.0",
    ),
    "ui_preview_max_bytes": _option(
        "Largest JSON payload the Results page reads when ``ui_load_preview`` is on.",
        "integer",
        "1048576",
        "65536",
        version_added="0.2.0",
    ),
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow's ProvidersManager registers."""
    return {
        "package-name": "airflow-results-provider",
        "name": "Results",
        "description": "Prefect 1.x style Results for Airflow: checkpointing, targets, caching, "
        "restart from failure and a Result-backed XCom backend.",
        "versions": [__version__],
        "documentation-url": DOCS_URL,
        "task-decorators": [
            {"name": "result", "class-name": "airflow_results_provider.decorators.result.result_task"}
        ],
        "extra-links": ["airflow_results_provider.links.result_link.ResultLink"],
        "cli": ["airflow_results_provider.cli.definition.get_results_cli_commands"],
        "config": {
            "results": {
                "description": "Options of airflow-results-provider (Results, checkpointing, XCom backend).",
                "options": RESULTS_CONFIG_OPTIONS,
            }
        },
    }
