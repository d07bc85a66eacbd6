"""Tests for sksparse.datasets' Reber-grammar generators, acceptors and encodings."""

import numpy as np
import pytest

from sksparse.datasets import (
    SYMBOLS,
    decode_sequences,
    encode_sequences,
    is_embedded_reber,
    is_reber,
    make_embedded_reber,
    make_reber,
    make_reber_classification,
    reber_next_symbols,
)


def symbols_of(row):
    return "".join(c for c, on in zip(SYMBOLS, row) if on)


@pytest.mark.parametrize("s", ["BTSSXXTVVE", "BPVVE", "BTXSE", "BPTVPXVPXTTVVE"])
def test_is_reber_accepts_known_strings(s):
    assert is_reber(s)
    assert is_embedded_reber(f"BT{s}TE") and is_embedded_reber(f"BP{s}PE")


@pytest.mark.parametrize(
    "s",
    ["", "B", "BTXS", "TXSE", "BTXSEE", "BTXXE", "BPVVEX", "BTSSXXTVVEE", "BTQSE"],
)
def test_is_reber_rejects_non_strings_of_the_grammar(s):
    assert not is_reber(s)


@pytest.mark.parametrize(
    "s", ["BTBTXSEPE", "BPBTXSETE", "BTBTXSET", "TBTXSETE", "BSBTXSESE", "BTXSE"]
)
def test_is_embedded_reber_rejects(s):
    assert not is_embedded_reber(s)


def test_acceptors_reject_non_str():
    with pytest.raises(TypeError, match="s must be a str"):
        is_reber(["B", "E"])


@pytest.fixture(scope="module")
def reber_strings():
    return make_reber(300, random_state=0)


def test_make_reber_strings_are_accepted(reber_strings):
    assert len(reber_strings) == 300
    assert all(is_reber(s) for s in reber_strings)
    assert len(set(reber_strings)) > 50  # varied, not one string repeated


def test_make_embedded_reber_strings_are_accepted():
    strings = make_embedded_reber(200, random_state=0)
    assert all(is_embedded_reber(s) for s in strings)
    assert {s[1] for s in strings} == {"T", "P"}
    assert all(len(s) >= 9 for s in strings)


@pytest.mark.parametrize("maker", [make_reber, make_embedded_reber])
def test_generators_are_deterministic_under_seed(maker):
    assert maker(20, random_state=7) == maker(20, random_state=7)
    assert maker(20, random_state=7) != maker(20, random_state=8)
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    assert maker(5, random_state=rng_a) == maker(5, random_state=rng_b)


def test_length_bounds_are_respected():
    strings = make_reber(100, min_length=8, max_length=10, random_state=0)
    assert all(8 <= len(s) <= 10 and is_reber(s) for s in strings)
    assert {len(s) for s in strings} == {8, 9, 10}
    exact = make_embedded_reber(20, min_length=12, max_length=12, random_state=0)
    assert all(len(s) == 12 and is_embedded_reber(s) for s in exact)


def test_long_min_length_is_fast_and_exact():
    # A rejection sampler would need about 0.6**-300 tries per string here.
    strings = make_reber(5, min_length=300, max_length=310, random_state=0)
    assert all(300 <= len(s) <= 310 and is_reber(s) for s in strings)


def test_length_distribution_matches_unconditioned_walk():
    # Without bounds, P(length 5) is P(BTXSE) + P(BPVVE) = 2 * (1/2)**3.
    strings = make_reber(4000, random_state=0)
    share = np.mean([len(s) == 5 for s in strings])
    assert abs(share - 0.25) < 0.03


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 2.0}, "n_samples"),
        ({"n_samples": 3, "min_length": 10, "max_length": 8}, "min_length"),
        ({"n_samples": 3, "max_length": 4}, "max_length"),
        ({"n_samples": 3, "min_length": -1}, "min_length"),
        ({"n_samples": 3, "random_state": "seed"}, "random_state"),
    ],
)
def test_make_reber_bad_input_names_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_reber(**kwargs)


def test_make_embedded_reber_needs_room_for_the_embedding():
    with pytest.raises(ValueError, match="max_length must be >= 9"):
        make_embedded_reber(3, max_length=8)


@pytest.mark.parametrize("embedded", [False, True])
def test_classification_negatives_are_rejected(embedded):
    strings, y = make_reber_classification(
        200, embedded=embedded, negative_fraction=0.3, max_length=20, random_state=0
    )
    accept = is_embedded_reber if embedded else is_reber
    assert y.dtype == np.int64 and y.shape == (200,)
    assert y.sum() == 140
    np.testing.assert_array_equal([int(accept(s)) for s in strings], y)
    shortest = 9 if embedded else 5
    assert all(shortest <= len(s) <= 20 for s in strings)
    # Negatives keep the frame, so they are not told apart by their ends.
    assert all(s[0] == "B" and s[-1] == "E" for s in strings)


def test_embedded_negatives_include_long_range_mismatches():
    strings, y = make_reber_classification(100, embedded=True, random_state=0)
    negatives = [s for s, label in zip(strings, y) if label == 0]
    mismatched = [s for s in negatives if s[1] != s[-2] and is_reber(s[2:-2])]
    assert len(mismatched) >= 10


def test_classification_deterministic_and_bounds():
    a = make_reber_classification(30, random_state=5)
    b = make_reber_classification(30, random_state=5)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])
    assert make_reber_classification(10, negative_fraction=0.0)[1].tolist() == [1] * 10
    assert make_reber_classification(10, negative_fraction=1)[1].tolist() == [0] * 10
    with pytest.raises(ValueError, match="negative_fraction"):
        make_reber_classification(10, negative_fraction=1.5)


def test_next_symbols_by_hand():
    targets = reber_next_symbols("BTSSXXTVVE")
    assert targets.shape == (10, 7) and targets.dtype == np.float32
    assert symbols_of(targets[0]) == "TP"  # after B
    assert symbols_of(targets[1]) == "SX"  # after BT: state 1
    assert symbols_of(targets[4]) == "SX"  # after BTSSX: state 3, X or S
    assert symbols_of(targets[5]) == "TV"  # after BTSSXX: state 2
    assert symbols_of(targets[7]) == "PV"  # after ...TV: state 4
    assert symbols_of(targets[8]) == "E"  # after ...VV: state 5
    assert not targets[9].any()  # nothing after E


def test_next_symbols_are_consistent_with_the_strings(reber_strings):
    for s in reber_strings[:50]:
        targets = reber_next_symbols(s)
        for t in range(len(s) - 1):
            assert s[t + 1] in symbols_of(targets[t])


def test_next_symbols_embedded_carry_the_long_range_dependency():
    s = "BPBTXSEPE"
    rows = [symbols_of(row) for row in reber_next_symbols(s, embedded=True)]
    assert rows == ["TP", "B", "TP", "SX", "SX", "E", "P", "E", ""]
    for s in make_embedded_reber(30, random_state=1):
        targets = reber_next_symbols(s, embedded=True)
        assert symbols_of(targets[-3]) == s[1]  # after the inner E
        assert targets.shape == (len(s), 7)


def test_next_symbols_of_a_prefix_and_of_a_bad_string():
    assert reber_next_symbols("BTS").shape == (3, 7)
    assert reber_next_symbols("").shape == (0, 7)
    with pytest.raises(ValueError, match="prefix of a Reber string"):
        reber_next_symbols("BTV")
    with pytest.raises(ValueError, match="closes with"):
        reber_next_symbols("BTBTXSEP", embedded=True)


def test_encode_index_round_trip(reber_strings):
    strings = reber_strings[:20]
    X, lengths = encode_sequences(strings)
    assert X.dtype == np.int64 and lengths.dtype == np.int64
    assert X.shape == (20, max(len(s) for s in strings))
    np.testing.assert_array_equal(lengths, [len(s) for s in strings])
    assert X[0, 0] == 1 and X[0, lengths[0] - 1] == 7  # B is 1, E is 7
    for row, n in zip(X, lengths):
        assert (row[n:] == 0).all()
    assert decode_sequences(X, lengths) == strings
    assert decode_sequences(X) == strings


def test_encode_one_hot_round_trip(reber_strings):
    strings = reber_strings[:20]
    X, lengths = encode_sequences(strings, one_hot=True)
    index, _ = encode_sequences(strings)
    assert X.dtype == np.float32 and X.shape == (*index.shape, 7)
    np.testing.assert_array_equal(X.sum(axis=2), index > 0)  # zeros at padding
    np.testing.assert_array_equal(X.argmax(axis=2)[index > 0], index[index > 0] - 1)
    assert decode_sequences(X, lengths) == strings


def test_encode_pad_value():
    X, lengths = encode_sequences(["BT", "BPVVE"], pad_value=-1)
    np.testing.assert_array_equal(X[0], [1, 2, -1, -1, -1])
    assert decode_sequences(X, lengths) == ["BT", "BPVVE"]


@pytest.mark.parametrize(
    "strings, match",
    [(["BTA"], "strings holds symbols outside"), ([], "strings"), ("BTXSE", "strings")],
)
def test_encode_bad_input_raises(strings, match):
    with pytest.raises(ValueError, match=match):
        encode_sequences(strings)
