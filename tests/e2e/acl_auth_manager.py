"""A test auth manager (the FAB provider is not installed, and Airflow's SimpleAuthManager lets every role GET
everything): SimpleAuthManager, except that the user :data:`DAGREADER` may read DAGs but not their XComs
(``DagAccessEntity.XCOM``), but for the DAGs of :data:`DAGREADER_XCOM_DAGS`. Every other user, ``admin`` and the
anonymous admin of ``simple_auth_manager_all_admins`` too, keeps SimpleAuthManager's answers.

``airflow standalone`` forces ``[core] auth_manager`` to SimpleAuthManager in the environment of the components
it starts, so ``tests/e2e/conftest.py`` copies this file into the standalone's plugins folder instead: Airflow
imports it as the module ``acl_auth_manager`` (its plugins folder is on ``sys.path``) when it loads plugins,
which the API server does before it creates its auth manager, and then it names this class there.
"""

from __future__ import annotations

import os

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

PLUGIN_MODULE = "acl_auth_manager"
DAGREADER = "dagreader"
#: The DAGs whose XComs :data:`DAGREADER` may read (asked with a DAG id; asked for every DAG, the answer is no).
DAGREADER_XCOM_DAGS = frozenset({"results_acl_open"})


class XComACLAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method, user, access_entity=None, details=None) -> bool:
        xcom = access_entity == DagAccessEntity.XCOM
        if (
            xcom
            and user.get_name() == DAGREADER
            and (details is None or details.id not in DAGREADER_XCOM_DAGS)
        ):
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )


if __name__ == PLUGIN_MODULE:  # loaded from a standalone's plugins folder, not imported by the tests
    os.environ["AIRFLOW__CORE__AUTH_MANAGER"] = f"{PLUGIN_MODULE}.XComACLAuthManager"
