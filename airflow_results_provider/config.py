"""The ``[results]`` configuration section, read in one place.

Airflow's configuration is imported lazily (inside the getters) so the core stays importable and cheap
without the Airflow runtime. Defaults live in :mod:`airflow_results_provider.get_provider_info`; when Airflow
is not importable, ``AIRFLOW__RESULTS__<OPTION>`` environment variables and those defaults are used.
Tests call :func:`clear_cache` after changing the environment.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import os
import sys
from collections.abc import Callable
from typing import Any

from airflow_results_provider.exceptions import ResultConfigError
from airflow_results_provider.get_provider_info import RESULTS_CONFIG_OPTIONS

SECTION = "results"
#: The shortest ``[results] signing_key`` accepted (an HMAC-SHA256 key; shorter ones can be guessed).
MIN_SIGNING_KEY_BYTES = 32
_TRUE = {"true", "t", "1", "yes", "y", "on"}
_FALSE = {"false", "f", "0", "no", "n", "off"}


def _raw(option: str) -> str:
    try:
        from airflow.configuration import conf
    except ImportError:  # the core used without Airflow installed
        env = os.environ.get(f"AIRFLOW__{SECTION.upper()}__{option.upper()}")
        return env if env is not None else (RESULTS_CONFIG_OPTIONS[option]["default"] or "")
    return conf.get(SECTION, option, fallback=RESULTS_CONFIG_OPTIONS[option]["default"] or "")


def _as_bool(option: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ResultConfigError(f"[{SECTION}] {option} must be a boolean, got {value!r}")


def _as_int(option: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ResultConfigError(f"[{SECTION}] {option} must be an integer, got {value!r}") from None


@functools.cache
def checkpointing() -> bool:
    """``[results] checkpointing``: the global checkpointing switch."""
    return _as_bool("checkpointing", _raw("checkpointing"))


@functools.cache
def assets() -> bool:
    """``[results] assets``: every checkpointed task's result is an Airflow asset (unless ``asset=False``)."""
    return _as_bool("assets", _raw("assets"))


@functools.cache
def default_result() -> str:
    """``[results] default_result``: URL or ``module:attr`` of the default store ("" = LocalResult)."""
    return _raw("default_result").strip()


@functools.cache
def local_dir() -> str:
    """``[results] local_dir`` with ``{AIRFLOW_HOME}`` and ``~`` expanded."""
    value = _raw("local_dir")
    if "{AIRFLOW_HOME}" in value:
        airflow_home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
        value = value.replace("{AIRFLOW_HOME}", airflow_home)
    return os.path.abspath(os.path.expanduser(value))


@functools.cache
def inline_max_bytes() -> int:
    """``[results] inline_max_bytes``: the size cap of InlineResult / PrefectResult."""
    return _as_int("inline_max_bytes", _raw("inline_max_bytes"))


@functools.cache
def xcom_result() -> str:
    """``[results] xcom_result``: where the XCom backend offloads values ("" = ``default_result``)."""
    return _raw("xcom_result").strip() or default_result()


@functools.cache
def xcom_inline_threshold() -> int:
    """``[results] xcom_inline_threshold``: JSON values up to this many bytes stay in the DB."""
    return _as_int("xcom_inline_threshold", _raw("xcom_inline_threshold"))


@functools.cache
def xcom_serializer() -> str:
    """``[results] xcom_serializer``: ``auto``, ``json`` or ``pickle``."""
    value = _raw("xcom_serializer").strip().lower()
    if value not in {"auto", "json", "pickle"}:
        raise ResultConfigError(f"[{SECTION}] xcom_serializer must be auto, json or pickle, got {value!r}")
    return value


@functools.cache
def purge() -> str:
    """``[results] purge``: ``never`` or ``on_clear``."""
    value = _raw("purge").strip().lower()
    if value not in {"never", "on_clear"}:
        raise ResultConfigError(f"[{SECTION}] purge must be never or on_clear, got {value!r}")
    return value


@functools.cache
def cache_policy() -> str:
    """``[results] cache_policy``: the default cache policy expression (``""``: none)."""
    return _raw("cache_policy").strip()


@functools.cache
def cache_wait_timeout() -> int:
    """``[results] cache_wait_timeout``: seconds to wait for another instance computing the same cache key."""
    value = _as_int("cache_wait_timeout", _raw("cache_wait_timeout"))
    if value < 0:
        raise ResultConfigError(f"[{SECTION}] cache_wait_timeout must be >= 0, got {value}")
    return value


@functools.cache
def cache_claim_ttl() -> int:
    """``[results] cache_claim_ttl``: seconds an unrenewed claim on a cache key lives in an object store."""
    value = _as_int("cache_claim_ttl", _raw("cache_claim_ttl"))
    if value < 1:
        raise ResultConfigError(f"[{SECTION}] cache_claim_ttl must be >= 1, got {value}")
    return value


@functools.cache
def gc_grace() -> dt.timedelta:
    """``[results] gc_grace``: how old an orphan must be before gc deletes it."""
    return parse_age("gc_grace", _raw("gc_grace"))


def parse_age(option: str, text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``45m``, ``90s`` or ``2w`` -> a timedelta.

    :raises ResultConfigError: not a number and a unit (names ``option``)."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    value = text.strip().lower()
    if len(value) < 2 or value[-1] not in units or not value[:-1].isdigit():
        raise ResultConfigError(
            f"{option} must be a number and a unit (s, m, h, d, w), e.g. 30d or 1h; got {text!r}"
        )
    return dt.timedelta(**{units[value[-1]]: int(value[:-1])})


@functools.cache
def signing_key() -> str:
    """``[results] signing_key`` (sensitive): HMAC key of XCom envelopes ("" = derived from ``[api] secret_key``).

    :raises ResultConfigError: a key shorter than :data:`MIN_SIGNING_KEY_BYTES` bytes (guessable)."""
    key = _raw("signing_key")
    if key and len(key.encode()) < MIN_SIGNING_KEY_BYTES:
        raise ResultConfigError(
            f"[{SECTION}] signing_key must be at least {MIN_SIGNING_KEY_BYTES} bytes long (got {len(key.encode())}): "
            'generate one with python -c "import secrets; print(secrets.token_hex(32))"'
        )
    return key


@functools.cache
def trusted_stores() -> tuple[str, ...]:
    """``[results] trusted_stores``: extra store specs unsigned envelopes may point into."""
    return tuple(part.strip() for part in _raw("trusted_stores").split(",") if part.strip())


@functools.cache
def allow_unsigned_pickle() -> bool:
    """``[results] allow_unsigned_pickle``: load pickles of envelopes without a valid signature."""
    return _as_bool("allow_unsigned_pickle", _raw("allow_unsigned_pickle"))


@functools.cache
def allow_unsigned_envelopes() -> bool:
    """``[results] allow_unsigned_envelopes``: read unsigned envelopes even though a signing key exists."""
    return _as_bool("allow_unsigned_envelopes", _raw("allow_unsigned_envelopes"))


@functools.cache
def ui_load_preview() -> bool:
    """``[results] ui_load_preview``: the Results page may read JSON payloads (size-capped)."""
    return _as_bool("ui_load_preview", _raw("ui_load_preview"))


@functools.cache
def ui_preview_max_bytes() -> int:
    """``[results] ui_preview_max_bytes``: the largest JSON payload the Results page reads."""
    return _as_int("ui_preview_max_bytes", _raw("ui_preview_max_bytes"))


_DERIVATION_LABEL = b"airflow-results-provider xcom envelope signing v2"


@functools.cache
def envelope_signing_key() -> bytes:
    """The key XCom envelopes are signed with: ``[results] signing_key``, else one derived from
    ``[api] secret_key`` (shared by every component of a deployment), else empty (no signing possible)."""
    explicit = signing_key()
    if explicit:
        return explicit.encode()
    shared = _api_secret_key()
    if not shared:
        return b""
    return hmac.new(shared.encode(), _DERIVATION_LABEL, hashlib.sha256).digest()


@functools.cache
def signing_key_is_per_process() -> bool:
    """Whether the signing key comes from an ``[api] secret_key`` Airflow made up for this process (none is
    configured: no env var, no airflow.cfg), so no other process can verify what this one signs."""
    if signing_key():
        return False
    try:
        import airflow.configuration as airflow_configuration
    except ImportError:
        return False
    made_up = getattr(airflow_configuration, "SECRET_KEY", None)
    return bool(made_up) and _api_secret_key() == made_up


#: What to tell someone whose records or envelopes do not verify because the key is made up per process.
PER_PROCESS_KEY_HINT = (
    " [api] secret_key is not configured, so Airflow made one up for this process and other processes sign "
    "with another: set [results] signing_key (or [api] secret_key) to the same value on every component."
)


def per_process_key_hint() -> str:
    """:data:`PER_PROCESS_KEY_HINT` when it applies, else ``""``."""
    return PER_PROCESS_KEY_HINT if signing_key_is_per_process() else ""


def _api_secret_key() -> str:
    try:
        from airflow.configuration import conf
    except ImportError:
        return os.environ.get("AIRFLOW__API__SECRET_KEY", "")
    return conf.get("api", "secret_key", fallback="") or ""


def core_option(option: str) -> str:
    """``[core] <option>``, read through Airflow only when Airflow is already loaded (as in every task), so
    a Result used in a plain script does not pay for importing Airflow here."""
    if "airflow.configuration" in sys.modules:
        from airflow.configuration import conf

        return conf.get("core", option, fallback="")
    return os.environ.get(f"AIRFLOW__CORE__{option.upper()}", "")


#: Executors whose workers run on other machines than the scheduler (LocalResult files would not be shared).
_DISTRIBUTED_EXECUTORS = ("celery", "kubernetes", "edge", "batch", "ecs", "lambda")


@functools.cache
def distributed_executor() -> str | None:
    """The first configured ``[core] executor`` that runs tasks on other machines, else ``None``."""
    for name in (part.strip() for part in core_option("executor").split(",")):
        if any(word in name.lower() for word in _DISTRIBUTED_EXECUTORS):
            return name
    return None


def api_base_path() -> str:
    """The path of ``[api] base_url`` (``""`` at the root): where the Airflow UI and its plugins are served."""
    from urllib.parse import urlsplit

    try:
        from airflow.configuration import conf
    except ImportError:  # the core used without Airflow installed
        return urlsplit(os.environ.get("AIRFLOW__API__BASE_URL", "")).path.rstrip("/")
    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


@functools.cache
def common_io_xcom_path() -> str:
    """``[common.io] xcom_objectstorage_path``: where common-io's XCom backend wrote its values ("" = none)."""
    try:
        from airflow.configuration import conf
    except ImportError:  # the core used without Airflow installed
        return os.environ.get("AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH", "")
    return conf.get("common.io", "xcom_objectstorage_path", fallback="")


_GETTERS: tuple[Any, ...] = (
    distributed_executor,
    common_io_xcom_path,
    checkpointing,
    assets,
    default_result,
    local_dir,
    inline_max_bytes,
    xcom_result,
    xcom_inline_threshold,
    xcom_serializer,
    purge,
    signing_key,
    gc_grace,
    cache_policy,
    cache_wait_timeout,
    cache_claim_ttl,
    trusted_stores,
    allow_unsigned_pickle,
    allow_unsigned_envelopes,
    envelope_signing_key,
    signing_key_is_per_process,
    ui_load_preview,
    ui_preview_max_bytes,
)


#: Cache resets registered by other modules (store specs, templates, the XCom hand-off): config is a leaf and
#: imports none of them, they register here when imported.
_ON_CLEAR: list[Callable[[], None]] = []


def on_clear(reset: Callable[[], None]) -> Callable[[], None]:
    """Register ``reset`` to run on :func:`clear_cache` (usable as a decorator); returns it."""
    if reset not in _ON_CLEAR:
        _ON_CLEAR.append(reset)
    return reset


def clear_cache() -> None:
    """Forget every cached value: option values and every cache registered with :func:`on_clear` (for tests
    that change the environment)."""
    for getter in _GETTERS:
        getter.cache_clear()
    for reset in _ON_CLEAR:
        reset()
