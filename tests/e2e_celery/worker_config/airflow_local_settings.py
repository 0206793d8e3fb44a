"""Worker-side ``airflow_local_settings`` of the Celery e2e suite (copied to ``$AIRFLOW_HOME/config``).

A deployment optimisation, not a behaviour change: each Celery pool process imports the modules every task
process needs (the Task SDK runner, the S3 hook and boto3, this package's XCom backend and S3Result) once, so the
task processes forked from it start without importing them again.
"""

from celery.signals import worker_process_init


@worker_process_init.connect
def _preload(**_):
    import airflow.providers.amazon.aws.hooks.s3
    import airflow.sdk.execution_time.task_runner  # noqa: F401

    import airflow_results_provider
    import airflow_results_provider.xcom

    airflow_results_provider.S3Result  # noqa: B018 - the lazy public name imports its module
