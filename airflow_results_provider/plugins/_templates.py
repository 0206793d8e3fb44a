"""Jinja2 templates of the Results pages (no JavaScript, no build step; autoescaped)."""

from __future__ import annotations

import functools
import json
from typing import Any

from airflow_results_provider import config
from airflow_results_provider.core.formatting import format_size
from airflow_results_provider.core.rows import OWNER_CHECKPOINT, OWNER_TARGET, OWNER_XCOM
from airflow_results_provider.index.cache_records import short

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
 body{font:14px system-ui,sans-serif;margin:12px;color:#1a202c;background:#fff}
 @media (prefers-color-scheme: dark){body{color:#e2e8f0;background:#1a202c} a{color:#90cdf4} th{background:#2d3748!important}}
 table{border-collapse:collapse;width:100%} th,td{border-bottom:1px solid #cbd5e0;padding:4px 6px;text-align:left;vertical-align:top}
 th{background:#edf2f7;white-space:nowrap} td.mono,pre,code{font-family:ui-monospace,monospace;font-size:12px}
 pre{white-space:pre-wrap;word-break:break-all;margin:0} .muted{color:#718096} .missing{color:#c53030} .ok{color:#2f855a}
 form.filters input,form.filters select{margin-right:6px} .tree ul{list-style:none;margin:0;padding-left:16px}
 .tree summary{cursor:pointer} .preview{margin:8px 0 12px} section{margin-bottom:24px} h1{font-size:18px} h2{font-size:16px}
</style></head><body>
<h1>{{ title }}</h1>
{% block body %}{% endblock %}
</body></html>"""

_LIST = """{% extends "base.html" %}{% block body %}
{% if link %}
<form class="filters" method="get">
 <input name="dag_id" placeholder="DAG" value="{{ params.dag_id or '' }}">
 <input name="run_id" placeholder="run" value="{{ params.run_id or '' }}">
 <input name="task_id" placeholder="task" value="{{ params.task_id or '' }}">
 <select name="owner"><option value="">any owner</option>
 {% for o in owners %}<option value="{{ o }}" {% if params.owner == o %}selected{% endif %}>{{ o }}</option>{% endfor %}</select>
 <input name="q" placeholder="search" value="{{ params.q or '' }}">
 <button type="submit">Filter</button>
</form>
<p class="muted">{{ total }} result(s){% if truncated %} (the newest {{ total }} matching rows; narrow the filters){% endif %};
 showing {{ offset + 1 if records else 0 }}-{{ offset + records|length }}.
 {% if offset > 0 %}<a href="{{ link(offset=[offset - limit, 0]|max) }}">previous</a>{% endif %}
 {% if offset + limit < total %}<a href="{{ link(offset=offset + limit) }}">next</a>{% endif %}</p>
{% endif %}
<table><thead><tr>
{% for col, label in [("dag_id","DAG"),("run_id","run"),("task_id","task"),("map_index","map"),(None,"key"),("result","result"),(None,"location"),(None,"serializer"),("size","size"),(None,"sha256"),("written_at","written at"),(None,"try"),("owner","owner"),(None,"exists")] %}
 <th>{% if link and col %}<a href="{{ link(sort=col, desc=('false' if sort == col and desc else 'true'), offset=0) }}">{{ label }}{% if sort == col %} {{ '▼' if desc else '▲' }}{% endif %}</a>{% else %}{{ label }}{% endif %}</th>
{% endfor %}</tr></thead><tbody>
{% for r in records %}<tr>
 <td>{{ r.dag_id }}</td><td class="mono">{{ r.run_id }}</td><td><a href="{{ root }}{{ detail(r) }}">{{ r.task_id }}</a></td>
 <td>{{ r.map_index if r.map_index >= 0 else '' }}</td><td class="mono">{{ r.xcom_key }}</td><td>{{ r.result or '' }}</td>
 <td class="mono">{{ r.location or '' }}{% if r.kind == 'sequence' %} ({{ r.chunks }} chunks){% endif %}</td><td>{{ r.serializer or '' }}</td>
 <td>{{ size(r.size) }}</td><td class="mono" title="{{ r.sha256 or '' }}">{{ (r.sha256 or '')[:12] }}</td>
 <td>{{ r.written_at or '' }}</td><td>{{ r.try_number or '' }}</td><td>{{ owner(r.owner) }}{% if not r.verified %} <span class="missing">(unverified)</span>{% endif %}</td>
 <td>{% if r.exists is none %}<span class="muted">?</span>{% elif r.exists %}<span class="ok">yes</span>{% else %}<span class="missing">missing</span>{% endif %}</td>
</tr>{% else %}<tr><td colspan="14" class="muted">No stored results.</td></tr>{% endfor %}
</tbody></table>
{% endblock %}"""

_TREE = """{% macro tree(value, open=True) -%}
{%- if value is mapping -%}<details {% if open %}open{% endif %}><summary>{{ '{' }}{{ value|length }} keys{{ '}' }}</summary><ul>
 {%- for k, v in value.items() %}<li><code>{{ k }}</code>: {{ tree(v, False) }}</li>{% endfor %}</ul></details>
{%- elif value is sequence and value is not string -%}<details {% if open %}open{% endif %}><summary>[{{ value|length }} items]</summary><ul>
 {%- for v in value %}<li>{{ tree(v, False) }}</li>{% endfor %}</ul></details>
{%- else -%}<code>{{ value|tojson }}</code>{%- endif -%}
{%- endmacro %}"""

_CACHE = """{% if cache %}<section class="cache">
<h2>Cache <span class="{{ 'ok' if cache.outcome == 'hit' else 'missing' }}">{{ cache.outcome }}</span></h2>
<table>
 <tr><th>reason</th><td>{{ cache.text('reason') }}</td></tr>
 <tr><th>key</th><td class="mono" title="{{ cache.text('key') }}">{{ short(cache.text('key')) }}</td></tr>
 <tr><th>policy</th><td class="mono">{{ cache.text('policy') }}</td></tr>
 <tr><th>decided at</th><td>{{ cache.text('decided_at') }}</td></tr>
 {% if cache.text('from_run_id') %}<tr><th>hit from run</th><td class="mono">{{ cache.text('from_run_id') }}</td></tr>{% endif %}
 <tr><th>newest entry</th><td class="mono">{% if cache.latest %}<span title="{{ cache.latest.get('key') }}">{{ short(cache.latest.get('key')) }}</span>
 {%- if cache.newest_is_this_key %} (this key){% endif %}, run {{ cache.latest.get('run_id') }}{% else %}<span class="muted">none</span>{% endif %}</td></tr>
</table>
<table class="components"><thead><tr><th>component</th><th>digest</th><th>newest entry</th><th>change</th></tr></thead><tbody>
{% for c in cache.components() %}<tr><td class="mono">{{ c.name }}</td>
 <td class="mono" title="{{ c.digest or '' }}">{{ short(c.digest) if c.digest else '-' }}</td>
 <td class="mono" title="{{ c.newest or '' }}">{{ short(c.newest) if c.newest else '-' }}</td>
 <td>{% if c.change %}<span class="missing">{{ c.change }}</span>{% endif %}</td></tr>{% endfor %}
</tbody></table>
</section>{% endif %}"""

_TASK_INSTANCE = """{% extends "base.html" %}{% from "tree.html" import tree %}{% block body %}
{% include "cache.html" %}
{% for d in details %}<section>
<h2>{{ "return value" if d.xcom_key == "_link_ResultLink" else "XCom " ~ d.xcom_key }}: {{ owner(d.owner) }}
{%- if not d.verified %} <span class="missing">(unverified: the store is not read)</span>{% endif %}</h2>
<div class="preview tree">
{% set p = d.preview_data %}
{% if d.value is not none %}{{ tree(d.value) }}
{% elif p and p.kind == 'json' %}{{ tree(p.data) }}
{% elif p and p.kind == 'table' %}<p class="muted">DataFrame, shape {{ p.shape[0] }} x {{ p.shape[1] }}</p>
 <table><thead><tr>{% for c in p.columns %}<th>{{ c }}<br><span class="muted">{{ p.dtypes[loop.index0] }}</span></th>{% endfor %}</tr></thead>
 <tbody>{% for row in p.rows %}<tr>{% for cell in row %}<td class="mono">{{ cell }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
{% elif p and p.kind == 'text' %}<p class="muted">str, {{ p.length }} characters</p><pre>{{ p.text }}</pre>
{% elif p and p.kind == 'hex' %}<p class="muted">bytes, {{ p.size }} bytes (first {{ (p.hex|length) // 2 }} shown)</p><pre>{{ hexdump(p.hex) }}</pre>
{% elif d.preview %}<pre>{{ d.preview }}</pre>
{% else %}<p class="muted">No preview was recorded.</p>{% endif %}
</div>
<table>
 {% for label, value in [("location", d.location), ("result class", d.result), ("serializer", d.serializer), ("size", size(d.size)), ("sha256", d.sha256), ("python type", d.python_type), ("written at", d.written_at), ("try number", d.try_number), ("DAG", d.dag_id), ("run", d.run_id), ("task", d.task_id), ("map index", d.map_index if d.map_index >= 0 else "")] %}
 <tr><th>{{ label }}</th><td class="mono">{{ value if value is not none else '' }}</td></tr>{% endfor %}
 <tr><th>exists</th><td>{% if d.exists is none %}unknown{% elif d.exists %}<span class="ok">yes</span>{% else %}<span class="missing">missing</span>{% endif %}</td></tr>
 {% if d.url %}<tr><th>console</th><td><a href="{{ d.url }}" target="_blank" rel="noopener">{{ d.url }}</a></td></tr>{% endif %}
</table>
</section>{% else %}<p class="muted">No stored result for this task instance.</p>{% endfor %}
{% endblock %}"""

_OWNER_LABELS = {OWNER_XCOM: "XCom backend", OWNER_CHECKPOINT: "checkpoint", OWNER_TARGET: "target hit"}


def _hexdump(text: str) -> str:
    data = bytes.fromhex(text)
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        printable = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {chunk.hex(' '):<47}  {printable}")
    return "\n".join(lines)


@functools.cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.DictLoader(
            {
                "base.html": _BASE,
                "list.html": _LIST,
                "tree.html": _TREE,
                "task_instance.html": _TASK_INSTANCE,
                "cache.html": _CACHE,
            }
        ),
        autoescape=True,
    )
    env.policies["json.dumps_function"] = lambda value, **kw: json.dumps(value, default=str, **kw)
    env.globals.update(
        size=format_size,
        owner=lambda o: _OWNER_LABELS.get(o, o),
        hexdump=_hexdump,
        detail=lambda record: f"/detail/{record.id}",
        short=short,
    )
    return env


config.on_clear(_environment.cache_clear)


def render(template: str, **context: Any) -> Any:
    from fastapi.responses import HTMLResponse

    return HTMLResponse(_environment().get_template(template).render(**context))
