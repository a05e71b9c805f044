"""The CPU generator is MT19937-64 (the stream of C++'s std::mt19937_64), so a seed gives the same numbers
on every platform and build. Checked against a plain-Python MT19937-64 written from the published
algorithm, across regenerations of the state (312 words), through the fills that use it: rand (53 bits
of each word), randint, and dropout's Bernoulli mask (keep when the word's top 53 bits, as a fraction,
are below the keep probability)."""
import numpy as np
import pytest

import reticulum as rt

_N, _M = 312, 156
_MASK64 = (1 << 64) - 1


def mt19937_64(seed, count):
    mt = [seed & _MASK64]
    for i in range(1, _N):
        mt.append((6364136223846793005 * (mt[-1] ^ (mt[-1] >> 62)) + i) & _MASK64)
    out, index = [], _N
    upper, lower = _MASK64 ^ ((1 << 31) - 1), (1 << 31) - 1
    while len(out) < count:
        if index == _N:
            for i in range(_N):
                y = (mt[i] & upper) | (mt[(i + 1) % _N] & lower)
                mt[i] = mt[(i + _M) % _N] ^ (y >> 1) ^ (0xB5026F5AA96619E9 if y & 1 else 0)
            index = 0
        y = mt[index]
        index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        out.append(y & _MASK64)
    return out


def test_reference_generator_matches_the_standard():
    # The C++ standard fixes the 10000th value of a default-seeded (5489) mt19937_64.
    assert mt19937_64(5489, 10000)[-1] == 9981545732273789042


@pytest.mark.parametrize("seed", [0, 5489, 2**63 + 17])
def test_rand_is_mt19937_64(seed):
    rt.manual_seed(seed)
    first = rt.rand(5, dtype=rt.float64).numpy()
    rest = rt.rand(1000, dtype=rt.float64).numpy()  # crosses three regenerations
    words = np.array(mt19937_64(seed, 1005), dtype=np.uint64)
    np.testing.assert_array_equal(np.concatenate([first, rest]), (words >> np.uint64(11)).astype(np.float64) * 2.0**-53)


def test_dropout_mask_is_the_bernoulli_of_the_stream():
    p = 0.3
    rt.manual_seed(7)
    kept = rt.nn.functional.dropout(rt.ones(2000, dtype=rt.float64), p, True).numpy() != 0
    words = np.array(mt19937_64(7, 2000), dtype=np.uint64)
    np.testing.assert_array_equal(kept, (words >> np.uint64(11)).astype(np.float64) * 2.0**-53 < 1 - p)
