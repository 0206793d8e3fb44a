"""DateTimeSerializer: the contract, plus offsets, dates and pendulum."""

from __future__ import annotations

import datetime as dt

import pytest

from airflow_results_provider.exceptions import SerializationError
from airflow_results_provider.serializers import DateTimeSerializer, JSONSerializer
from tests.unit.serializers.contract import SerializerContract, roundtrip_both


class TestDateTimeSerializer(SerializerContract):
    @pytest.fixture
    def serializer(self):
        return DateTimeSerializer()

    @pytest.fixture
    def equal_serializer(self):
        return DateTimeSerializer()

    @pytest.fixture
    def other_serializer(self):
        return JSONSerializer()

    @pytest.fixture
    def value(self):
        return dt.datetime(2024, 1, 2, 3, 4, 5, 678, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30)))

    @pytest.fixture
    def unserializable_value(self):
        return "2024-01-01"

    @pytest.fixture
    def corrupt_payload(self):
        return b"yesterday"


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        dt.datetime(2024, 1, 2, 3, 4, 5, 678),
        dt.date(2024, 2, 29),
    ],
)
def test_datetime_roundtrip(value):
    via_bytes, via_stream = roundtrip_both(DateTimeSerializer(), value)
    assert via_bytes == value and via_stream == value
    assert type(via_bytes) is type(value)


def test_datetime_accepts_pendulum_and_rejects_others():
    import pendulum

    value = pendulum.datetime(2024, 5, 6, 7, tz="Europe/Paris")
    back = DateTimeSerializer().deserialize(DateTimeSerializer().serialize(value))
    assert back == value and back.utcoffset() == dt.timedelta(hours=2)
    with pytest.raises(SerializationError, match="DateTimeSerializer"):
        DateTimeSerializer().serialize("2024-01-01")
    with pytest.raises(SerializationError):
        DateTimeSerializer().deserialize(b"yesterday")


def test_datetime_reads_a_z_suffix_and_surrounding_whitespace():
    back = DateTimeSerializer().deserialize(b" 2024-01-02T03:04:05Z\n")
    assert back == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert DateTimeSerializer().deserialize(b"2024-02-29\n") == dt.date(2024, 2, 29)


def test_datetime_payload_is_iso_text():
    assert DateTimeSerializer().serialize(dt.date(2024, 2, 29)) == b"2024-02-29"
    assert DateTimeSerializer().extension == "txt"
    assert DateTimeSerializer().label == "datetime"
