"""The Results plugin's FastAPI app: a JSON API and server-rendered pages over :mod:`airflow_results_provider.index`.

Every route declares its auth: ``GetUserDep`` (401 without a valid token, from the ``Authorization`` header or
the UI's cookie) and, for one DAG's results, ``requires_access_dag("GET", XCOM)`` (403 otherwise). Every route
returns record data (previews, locations, URLs), so lists keep only the DAGs whose XComs the auth manager lets the
user read, the check the one-DAG routes make: a record is listed only if its own routes would show it.
``AuthManagerDep``/``DagBagDep`` are not used: they read the main app's state, which a mounted plugin app does not
have.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from airflow_results_provider import config, index
from airflow_results_provider.index import cache_records
from airflow_results_provider.plugins._templates import render

_CAN_READ_XCOM = [Depends(requires_access_dag("GET", DagAccessEntity.XCOM))]


def _map_index(value: str) -> int:
    # An unmapped task's tab gets the literal "{MAP_INDEX}" from the UI.
    try:
        return int(value)
    except ValueError:
        return -1


def _xcom_readable_dags(session: Any, user: Any, dag_id: str | None = None) -> set[str]:
    """The DAGs (only ``dag_id`` if given) whose XComs ``user`` may read: ``is_authorized_dag("GET", XCOM)`` for
    each DAG with its team, the question ``requires_access_dag`` asks for the one-DAG routes. (Airflow's XCom list
    asks it once for all DAGs, then keeps the readable ones; an auth manager may grant XComs per DAG.) One batch
    call first: when the user may read them all, as an admin, that is the only call."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.batch_apis import IsAuthorizedDagRequest
    from airflow.models.dag import DagModel

    auth_manager = get_auth_manager()
    readable = set(auth_manager.get_authorized_dag_ids(user=user, method="GET"))
    if dag_id is not None:
        readable &= {dag_id}
    if not readable:
        return set()
    teams = DagModel.get_dag_id_to_team_name_mapping(sorted(readable), session=session)
    details = {d: DagDetails(id=d, team_name=teams.get(d)) for d in readable}
    requests = [
        IsAuthorizedDagRequest(method="GET", access_entity=DagAccessEntity.XCOM, details=detail)
        for detail in details.values()
    ]
    if auth_manager.batch_is_authorized_dag(requests, user=user):
        return readable
    return {
        d
        for d, detail in details.items()
        if auth_manager.is_authorized_dag(
            method="GET", access_entity=DagAccessEntity.XCOM, details=detail, user=user
        )
    }


def _filters(
    readable: set[str] | None,
    dag_id: str | None,
    run_id: str | None,
    task_id: str | None,
    owner: str | None,
    q: str | None,
) -> index.Filters:
    if owner and owner not in index.OWNERS:
        raise HTTPException(400, f"owner must be one of {', '.join(index.OWNERS)}")
    return index.Filters(
        dag_ids=readable,
        dag_id=dag_id or None,
        run_id=run_id or None,
        task_id=task_id or None,
        owner=owner or None,
        search=q or None,
    )


class _ListQuery:
    """The query parameters of the list routes (the JSON API and the page), and the page they select."""

    def __init__(
        self,
        dag_id: str | None = None,
        run_id: str | None = None,
        task_id: str | None = None,
        owner: str | None = None,
        q: str | None = None,
        sort: str = "written_at",
        desc: bool = True,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=index.MAX_PAGE)] = 50,
    ) -> None:
        self.dag_id, self.run_id, self.task_id, self.owner, self.q = dag_id, run_id, task_id, owner, q
        self.sort, self.desc, self.offset, self.limit = sort, desc, offset, limit

    def page(self, session: Any, user: Any) -> index.Page:
        # In the query, not after paging: the total and the pages count only the records the user may read.
        readable = _xcom_readable_dags(session, user, self.dag_id or None)
        filters = _filters(readable, self.dag_id, self.run_id, self.task_id, self.owner, self.q)
        try:
            return index.list_page(
                session, filters, sort=self.sort, descending=self.desc, offset=self.offset, limit=self.limit
            )
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc


def _detail(record: index.Record) -> dict[str, Any]:
    metadata = index.read_metadata(record)
    data = record.as_dict()
    data["metadata"] = metadata
    preview_data = (metadata or {}).get("preview_data")
    data["preview"] = record.preview or (metadata or {}).get("preview")
    data["preview_data"] = preview_data
    data["value"] = None
    if config.ui_load_preview():
        loaded = index.load_json_preview(record, config.ui_preview_max_bytes())
        if loaded is not None:
            data["value"] = loaded
    index.check_exists([record])
    data["exists"] = record.exists
    return data


class _RecordKey:
    """The path parameters naming one record (``dag/run/task/map_index/xcom_key``)."""

    def __init__(self, dag_id: str, run_id: str, task_id: str, map_index: str, xcom_key: str) -> None:
        self.dag_id, self.run_id, self.task_id, self.xcom_key = dag_id, run_id, task_id, xcom_key
        self.map_index = _map_index(map_index)

    def record(self, session: Any) -> index.Record:
        return _record_or_404(session, self.dag_id, self.run_id, self.task_id, self.map_index, self.xcom_key)


def _record_or_404(
    session: Any, dag_id: str, run_id: str, task_id: str, map_index: int, xcom_key: str
) -> index.Record:
    for record in index.get_records(session, dag_id, run_id, task_id, map_index):
        if record.xcom_key == xcom_key:
            return record
    raise HTTPException(404, f"No stored result for {dag_id}/{run_id}/{task_id}[{map_index}] {xcom_key}")


def create_app() -> FastAPI:
    """The Results FastAPI app the plugin mounts: a JSON API and server-rendered pages, every route behind
    Airflow's auth (XCom read of the record's DAG: lists filter by it, one DAG's routes require it)."""
    # No /docs, /redoc or /openapi.json: they would be the only routes without an auth dependency.
    app = FastAPI(
        title="Results",
        description="Stored results of airflow-results-provider",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    _add_api_routes(app)
    _add_list_page(app)
    _add_run_pages(app)
    _add_detail_pages(app)
    return app


def _add_api_routes(app: FastAPI) -> None:
    """``/api/results`` (a page of records) and ``/api/results/<id>`` (one record with its metadata)."""

    @app.get("/api/results")
    def list_results(
        user: GetUserDep,
        session: SessionDep,
        query: Annotated[_ListQuery, Depends()],
        check_exists: bool = True,
    ) -> dict[str, Any]:
        page = query.page(session, user)
        if check_exists:
            index.check_exists(page.records)
        return {
            "results": [r.as_dict() for r in page.records],
            "total_entries": page.total,
            "truncated": page.truncated,
        }

    @app.get("/api/results/{dag_id}/{run_id}/{task_id}/{map_index}/{xcom_key}", dependencies=_CAN_READ_XCOM)
    def get_result(
        record_key: Annotated[_RecordKey, Depends()], user: GetUserDep, session: SessionDep
    ) -> dict[str, Any]:
        return _detail(record_key.record(session))


def _add_list_page(app: FastAPI) -> None:
    """``/``: the sortable, filterable list of stored results."""

    @app.get("/", response_class=HTMLResponse)
    def list_page(
        request: Request,
        user: GetUserDep,
        session: SessionDep,
        query: Annotated[_ListQuery, Depends()],
    ) -> HTMLResponse:
        page = query.page(session, user)
        index.check_exists(page.records)
        sort, desc, offset, limit = query.sort, query.desc, query.offset, query.limit
        params = {"dag_id": query.dag_id, "run_id": query.run_id, "task_id": query.task_id}
        params = {k: v for k, v in {**params, "owner": query.owner, "q": query.q}.items() if v}

        def link(**changes: Any) -> str:
            return "?" + urlencode(
                {
                    **params,
                    "sort": sort,
                    "desc": str(desc).lower(),
                    "offset": offset,
                    "limit": limit,
                    **changes,
                }
            )

        return render(
            "list.html",
            root=_root(request),
            title="Results",
            records=page.records,
            total=page.total,
            truncated=page.truncated,
            offset=offset,
            limit=limit,
            sort=sort,
            desc=desc,
            params=params,
            owners=index.OWNERS,
            sort_fields=index.SORT_FIELDS,
            link=link,
        )


def _add_run_pages(app: FastAPI) -> None:
    """The "Result" tab of one task instance: its stored results and, when its cache policy recorded one, the
    cache decision (hit or miss, why, the key's components)."""

    @app.get(
        "/ti/{dag_id}/{run_id}/{task_id}/{map_index}",
        response_class=HTMLResponse,
        dependencies=_CAN_READ_XCOM,
    )
    def task_instance_page(
        request: Request,
        dag_id: str,
        run_id: str,
        task_id: str,
        map_index: str,
        user: GetUserDep,
        session: SessionDep,
    ) -> HTMLResponse:
        position = _map_index(map_index)
        records = index.get_records(session, dag_id, run_id, task_id, position)
        details = [_detail(r) for r in records]
        stores = cache_records.task_instance_stores(session, dag_id, run_id, task_id, position)
        decision = cache_records.find_decision(
            dag_id, run_id, task_id, position if position >= 0 else None, stores
        )
        return render(
            "task_instance.html",
            root=_root(request),
            title=f"Result of {task_id}" + (f"[{position}]" if position >= 0 else ""),
            details=details,
            dag_id=dag_id,
            run_id=run_id,
            cache=decision,
        )


def _add_detail_pages(app: FastAPI) -> None:
    """The pages of one DAG run and of one record."""

    @app.get("/run/{dag_id}/{run_id}", response_class=HTMLResponse, dependencies=_CAN_READ_XCOM)
    def dag_run_page(
        request: Request, dag_id: str, run_id: str, user: GetUserDep, session: SessionDep
    ) -> HTMLResponse:
        records = index.get_records(session, dag_id, run_id)[: index.MAX_PAGE]
        index.check_exists(records)
        return render(
            "list.html",
            root=_root(request),
            title=f"Results of {dag_id} / {run_id}",
            records=records,
            total=len(records),
            truncated=False,
            offset=0,
            limit=len(records) or 1,
            sort="task_id",
            desc=False,
            params={},
            owners=index.OWNERS,
            sort_fields=(),
            link=None,
        )

    @app.get(
        "/detail/{dag_id}/{run_id}/{task_id}/{map_index}/{xcom_key}",
        response_class=HTMLResponse,
        dependencies=_CAN_READ_XCOM,
    )
    def detail_page(
        request: Request, record_key: Annotated[_RecordKey, Depends()], user: GetUserDep, session: SessionDep
    ) -> HTMLResponse:
        record = record_key.record(session)
        return render(
            "task_instance.html",
            root=_root(request),
            title=record.location or record.id,
            details=[_detail(record)],
            dag_id=record_key.dag_id,
            run_id=record_key.run_id,
        )


def _root(request: Request) -> str:
    """This app's URL path (``[api] base_url``'s path and the mount prefix)."""
    return request.scope.get("root_path", "").rstrip("/")
