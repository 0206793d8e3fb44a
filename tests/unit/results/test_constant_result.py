from __future__ import annotations

import pickle

import pytest

from airflow_results_provider.exceptions import ResultError
from airflow_results_provider.results import ConstantResult


def test_read_returns_the_constant_and_write_raises():
    result = ConstantResult(42)
    assert result.read("anything").value == 42
    assert result.exists("whatever")
    with pytest.raises(ValueError, match="Cannot write values to ConstantResult"):
        result.write(1)
    with pytest.raises(ResultError):
        result.write(1)
    assert repr(result) == "<ConstantResult: 42>"
    assert pickle.loads(pickle.dumps(result)) == result
