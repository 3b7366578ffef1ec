"""Wire-format helpers."""

from __future__ import annotations

from chalicelib.core.dynamo import to_attr, to_item


def test_a_float_below_dynamodbs_smallest_magnitude_is_written_as_zero() -> None:
    """Found by the API fuzzer: a vendor at longitude -2.5e-198 was a 500 (decimal.Underflow)."""
    assert to_attr(-2.5e-198) == {"N": "0"}
    assert to_item({"address": {"lng": 1e-131, "lat": 12.5}}) == {
        "address": {"M": {"lng": {"N": "0"}, "lat": {"N": "12.5"}}}
    }
    assert to_attr(1e-130) == {"N": "1E-130"}
