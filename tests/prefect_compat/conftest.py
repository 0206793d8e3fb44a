"""Glue for Prefect's own tests, ported to airflow-results-provider (see the header of each test file).

Skip reasons live here, one constant per Airflow concept a Prefect case cannot map to, so the skips can be
counted by reason (``pytest -rs tests/prefect_compat``). ``DIVERGENCE_*`` reasons are deliberate differences,
listed in docs/migrating-from-prefect.md ("What behaves differently").
"""

from __future__ import annotations

NO_PREFECT_STATE = (
    "Airflow: a task instance's state is the scheduler's (no Prefect State object such as Cached/Pending/Running "
    "can be handed to a task runner or read back from it)"
)
NO_STATE_HANDLERS = (
    "Airflow: no per-state task handlers (on_*_callback run once per task instance, not per Prefect state "
    "transition such as Looped/Running)"
)
NO_TASK_RUNNER_LOGGER = "Airflow: no per-iteration TaskRunner start/finish log lines (one task instance log)"
NO_HASHED_INPUTS = (
    "Airflow: no Prefect Cloud Cached state with dask-tokenized hashed_inputs; the cache entry keeps the "
    "inputs themselves (compared with all_inputs)"
)
NO_PREFECT_SECRET_TASK = (
    "Airflow: secrets are Variables/Connections (SecretResult(variable=|connection=)), not PrefectSecret tasks "
    "nor prefect.context secrets"
)
NO_CONSTANT_TASK = "Airflow: no Constant task (a constant is a plain value or ConstantResult)"
NO_PARAMETER_TASK = "Airflow: DAG params are not tasks, so a param has no checkpoint of its own"
NO_SIGNAL_WITH_RESULT = "Airflow: no SUCCESS signal carrying a result; a task's value is what execute returns"
NO_NO_RESULT = "Airflow: no NoResult sentinel; a task that returns nothing pushes None"
NO_PREFECT_HOME = "Airflow: no Prefect home dir to redirect; the default dir is [results] local_dir"
CONNECTION_CREDENTIALS = (
    "Airflow: credentials come from the connection (aws_conn_id / gcp_conn_id / wasb_conn_id), not from "
    "Prefect secrets, connection strings or per-Result SDK client arguments"
)
NO_PREFECT_SKIP_STATE = (
    "Airflow: an upstream skip skips the downstream task instance (trigger rule), it never runs with a "
    "Skipped upstream state"
)
DIVERGENCE_ERRORS = (
    "Divergence: every error the package raises derives from ResultError (here SerializationError), the "
    "original error is its __cause__"
)
DIVERGENCE_CONSTANT_READ = (
    "Divergence: ConstantResult.read(location) returns a new Result holding the constant and that location, like "
    "every Result's read, not the ConstantResult itself"
)
