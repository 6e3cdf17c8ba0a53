"""The client reads bodies with orjson, falling back to json.loads: every body reads as json.loads reads it."""

from __future__ import annotations

import json

import pytest

from woobridge.woo.client import parse_json

# Bodies json.loads takes and orjson refuses: they still read, the same.
ONLY_JSON_LOADS_TAKES = [
    b'{"total": NaN}',
    b'{"total": Infinity, "tax": -Infinity}',
    b"[1E400]",
    b'\xef\xbb\xbf{"id": 1}',  # a UTF-8 byte order mark, left by a plugin file before WordPress' output
    b'{"note": "\\ud800"}',  # a lone surrogate escape
    '{"note": "é"}'.encode("utf-16"),
]

BODIES = [
    b'[{"id": 1, "total": "12.50", "line_items": []}]',
    b'{"a": 1, "a": 2}',  # duplicate keys: the last wins, as in json.loads
    b'{"id": 9223372036854775807, "min": -9223372036854775808, "u64": 18446744073709551615}',
    b"[0.1, 16.99, -0.0, 1e-7, 2.5e300, 9007199254740993]",
    b'{"name": "Jos\\u00e9 \\ud83d\\ude00 \\/ \\"x\\""}',
    b"null",
    *ONLY_JSON_LOADS_TAKES,
]


@pytest.mark.parametrize("body", BODIES)
def test_a_body_reads_as_json_loads_reads_it(body: bytes) -> None:
    parsed, expected = parse_json(body), json.loads(body)
    assert repr(parsed) == repr(expected)  # repr: NaN is not equal to itself
    assert type(parsed) is type(expected)


@pytest.mark.parametrize(
    "body",
    [b'[{"id": 1, "total": "12.', b"", b"<html>busy</html>", b'{"a": 1}x', b'"\xff"', b"[1,]", b"{'a': 1}"],
)
def test_a_body_that_is_not_json_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(body)
    with pytest.raises(ValueError):
        parse_json(body)


def test_an_integer_beyond_64_bits_is_the_one_known_difference() -> None:
    # PHP's json_encode never writes one (PHP integers are 64-bit); orjson reads it as a float.
    assert parse_json(b"[18446744073709551616]") == [1.8446744073709552e19]
    assert json.loads(b"[18446744073709551616]") == [18446744073709551616]
