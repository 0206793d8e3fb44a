"""abridge(): bounded display stand-ins for large values (what ResultMixin hands Airflow's display code)."""

from __future__ import annotations

from airflow_results_provider.core.preview import abridge


def test_values_that_fit_are_returned_themselves():
    for value in ([1, 2, 3], {"a": [1, {"b": "c"}]}, "text", b"bytes", (1, 2), {1, 2}, None, 3.5, 10**30):
        assert abridge(value, 4096) is value
    args = [[1, 2], {"k": "v"}]
    assert abridge(args, 4096, per_item=True) is args


def test_large_containers_keep_their_start_and_say_what_is_left_out():
    value = list(range(1_000_000))
    shown = abridge(value, 1000)
    assert shown[:5] == [0, 1, 2, 3, 4]
    assert shown[-1] == f"… {1_000_000 - (len(shown) - 1):,} more items"
    assert 500 < len(str(shown)) < 1500
    nested = abridge({"rows": [{"id": i, "name": "n" * 50} for i in range(10_000)], "tail": 1}, 800)
    assert nested["rows"][0] == {"id": 0, "name": "n" * 50}
    assert nested["rows"][-1].endswith("more items") and nested["…"] == "1 more keys"
    text = abridge("x" * 10_000, 100)
    assert text == "x" * 100 + "… (10,000 characters)"
    assert abridge(b"\x00" * 10_000, 10) == repr(b"\x00" * 10) + "… (10,000 bytes)"
    assert abridge(tuple(range(5000)), 100)[-1].endswith("more items")


class CountingList(list):
    """A list that counts the items iterated out of it."""

    seen = 0

    def __iter__(self):
        for item in list.__iter__(self):
            self.seen += 1
            yield item


def test_cost_is_bounded_by_the_limit_not_the_value():
    big = CountingList(range(1_000_000))
    shown = abridge(big, 4096)
    assert big.seen < 1000 and len(shown) == big.seen  # the items shown, and the one that did not fit


def test_per_item_shares_the_limit_among_arguments():
    args = [list(range(100_000)), {"password": "p" * 5000, "rows": list(range(3000))}]
    shown = abridge(args, 4096, per_item=True)
    assert shown[0][-1].endswith("more items")
    assert set(shown[1]) == {"password", "rows"}  # the second argument keeps its keys (masked by Airflow)
    assert shown[1]["password"].endswith("(5,000 characters)")
    kwargs = {"a": "x" * 10_000, "b": 1}
    assert abridge(kwargs, 4096, per_item=True) == {"a": "x" * 512 + "… (10,000 characters)", "b": 1}


def test_return_values_are_logged_abridged_per_call():
    # A looping task may return a large value, then a small one: each is logged the way its size asks.
    from airflow_results_provider.operators import mixin

    class Operator:
        show_return_value_in_logs = True

        def __init__(self, values):
            self.values, self.logged, self.shown = iter(values), [], []
            self.log = type("Log", (), {"info": lambda _, msg, *args: self.logged.append(msg % args)})()

        def execute_callable(self):
            return next(self.values)

        def execute(self):  # what PythonOperator.execute does around the callable
            value = self.execute_callable()
            self.shown.append(self.show_return_value_in_logs)
            return value

    big = list(range(100_000))
    operator = Operator([big, [1, 2], big])
    with mixin._return_value_logged_abridged(operator):
        assert [operator.execute() for _ in range(3)] == [big, [1, 2], big]
    assert operator.shown == [False, True, False]
    assert len(operator.logged) == 2 and all("more items" in line for line in operator.logged)
    assert operator.show_return_value_in_logs is True and "execute_callable" not in operator.__dict__
