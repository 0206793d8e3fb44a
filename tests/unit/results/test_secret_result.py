from __future__ import annotations

import json
import pickle

import pytest

from airflow_results_provider.exceptions import ResultNotFoundError, ResultNotWritableError
from airflow_results_provider.results import SecretResult


@pytest.fixture
def secrets(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_VENDOR_KEY", "s3cr3t-value-123")
    monkeypatch.setenv("AIRFLOW_VAR_VENDOR_JSON", json.dumps({"token": "abc-def-ghi"}))
    monkeypatch.setenv(
        "AIRFLOW_CONN_VENDOR_DB",
        json.dumps({"conn_type": "postgres", "host": "db", "login": "u", "password": "pw-very-secret"}),
    )


def test_variable_secret_is_read_and_masked(secrets):
    result = SecretResult(variable="vendor_key")
    read = result.read()
    assert read.value == "s3cr3t-value-123"
    assert "s3cr3t" not in repr(read)
    assert read.metadata["preview"] == "***"
    from airflow.sdk._shared.secrets_masker.secrets_masker import redact

    assert "s3cr3t-value-123" not in str(redact("token s3cr3t-value-123"))


def test_json_variable_and_connection(secrets):
    assert SecretResult(variable="vendor_json", deserialize_json=True).read().value == {
        "token": "abc-def-ghi"
    }
    conn = SecretResult(connection="vendor_db").read().value
    assert conn.password == "pw-very-secret" and conn.host == "db"


def test_missing_secret(secrets):
    assert not SecretResult(variable="nope_not_here").exists()
    with pytest.raises(ResultNotFoundError, match="nope_not_here"):
        SecretResult(variable="nope_not_here").read()
    with pytest.raises(ResultNotFoundError, match="no_conn"):
        SecretResult(connection="no_conn").read()


def test_never_persisted(secrets):
    read = SecretResult(variable="vendor_key").read()
    with pytest.raises(ResultNotWritableError):
        read.write("x")
    assert b"s3cr3t" not in pickle.dumps(read)
    with pytest.raises(ValueError, match="exactly one"):
        SecretResult()
