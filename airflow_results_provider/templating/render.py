"""Render location templates: Jinja (``{{ ... }}``) or Prefect's ``str.format`` syntax."""

from __future__ import annotations

import functools
import string
from _string import formatter_field_name_split as _formatter_field_name_split
from collections.abc import Mapping
from typing import Any

from airflow_results_provider import config
from airflow_results_provider.exceptions import LocationTemplateError
from airflow_results_provider.templating.filters import path_safe


@functools.cache
def _jinja_env():
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
    )
    env.filters["path_safe"] = path_safe
    return env


class _SandboxedFormatter(string.Formatter):
    """``str.format`` with Jinja's sandbox rules: no ``_``-prefixed attributes or keys, no unsafe attributes
    (``__globals__``, ``func_code``, ...), so a template cannot walk from a context object to the interpreter."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        first, rest = _formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        env = _jinja_env()
        for is_attribute, name in rest:
            if is_attribute:
                value = getattr(obj, name, None)
                if name.startswith("_") or not env.is_safe_attribute(obj, name, value):
                    raise LocationTemplateError(
                        f"Location template field {field_name!r}: attribute {name!r} is not allowed "
                        "(templates may not read private or unsafe attributes)"
                    )
                obj = getattr(obj, name)
            else:
                if isinstance(name, str) and name.startswith("_"):
                    raise LocationTemplateError(
                        f"Location template field {field_name!r}: key {name!r} is not allowed "
                        "(templates may not read private keys)"
                    )
                obj = obj[name]
        return obj, first


_FORMATTER = _SandboxedFormatter()


@functools.lru_cache(maxsize=512)
def _jinja_compile(template: str):
    from jinja2 import meta

    env = _jinja_env()
    return env.from_string(template), frozenset(meta.find_undeclared_variables(env.parse(template)))


def _available(context: Mapping[str, Any]) -> str:
    return ", ".join(sorted(str(k) for k in context))


def _missing_error(template: str, missing: list[str], context: Mapping[str, Any]) -> LocationTemplateError:
    names = ", ".join(repr(m) for m in missing)
    return LocationTemplateError(
        f"Location template {template!r} uses {names}, which is not available here. "
        f"Available variables: {_available(context)}"
    )


def is_jinja(template: str) -> bool:
    """Whether ``template`` is Jinja (has ``{{`` or ``{%``) rather than ``str.format`` syntax."""
    return "{{" in template or "{%" in template


def render_location(template: str, context: Mapping[str, Any]) -> str:
    """Render ``template`` with ``context``.

    :raises LocationTemplateError: a variable is missing (named, with the available ones listed), the
        syntax is wrong, or the result is empty.
    """
    if is_jinja(template):
        import jinja2

        try:
            compiled, variables = _jinja_compile(template)
        except jinja2.TemplateSyntaxError as exc:
            raise LocationTemplateError(f"Location template {template!r} is not valid Jinja: {exc}") from exc
        missing = sorted(v for v in variables if v not in context)
        if missing:
            raise _missing_error(template, missing, context)
        try:
            rendered = compiled.render(**context)
        except jinja2.UndefinedError as exc:
            raise LocationTemplateError(
                f"Location template {template!r} failed: {exc}. Available variables: {_available(context)}"
            ) from exc
        except Exception as exc:
            raise LocationTemplateError(f"Location template {template!r} failed: {exc!r}") from exc
    elif "{" in template:
        try:
            rendered = _FORMATTER.vformat(template, (), context)
        except KeyError as exc:
            raise _missing_error(template, [str(exc.args[0])], context) from exc
        except IndexError as exc:
            raise LocationTemplateError(
                f"Location template {template!r} uses a positional field; name the variable, e.g. {{task_name}}"
            ) from exc
        except LocationTemplateError:
            raise
        except (AttributeError, ValueError, TypeError) as exc:
            raise LocationTemplateError(f"Location template {template!r} failed: {exc}") from exc
    else:
        rendered = template
    rendered = rendered.strip()
    if not rendered:
        raise LocationTemplateError(f"Location template {template!r} rendered to an empty location")
    if "\x00" in rendered:
        raise LocationTemplateError(f"Location template {template!r} rendered a NUL character: {rendered!r}")
    return rendered


config.on_clear(_jinja_env.cache_clear)
config.on_clear(_jinja_compile.cache_clear)
