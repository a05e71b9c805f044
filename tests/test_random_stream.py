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


# The fills convert the words in chunks of 2048 as they are drawn: 5000 crosses two chunk boundaries.
@pytest.mark.parametrize("n", [2000, 5000])
@pytest.mark.parametrize("dtype", [rt.float32, rt.float64])
def test_dropout_mask_is_the_bernoulli_of_the_stream(n, dtype, cpu_level):  # float masks run at each level
    p = 0.3
    rt.manual_seed(7)
    kept = rt.nn.functional.dropout(rt.ones(n, dtype=dtype), p, True).numpy() != 0
    words = np.array(mt19937_64(7, n), dtype=np.uint64)
    np.testing.assert_array_equal(kept, (words >> np.uint64(11)).astype(np.float64) * 2.0**-53 < 1 - p)


def test_randn_pairs_words_across_chunks_and_consumes_an_even_count():
    n = 4097  # odd: Box-Muller uses 4098 words, in three chunks
    rt.manual_seed(3)
    z = rt.randn(n, dtype=rt.float64).numpy()
    after = rt.rand(3, dtype=rt.float64).numpy()
    words = np.array(mt19937_64(3, n + 1 + 3), dtype=np.uint64)
    unit = (words >> np.uint64(11)).astype(np.float64) * 2.0**-53
    u1, u2 = 1.0 - unit[0:n + 1:2], unit[1:n + 1:2]
    r, th = np.sqrt(-2.0 * np.log(u1)), 2 * np.pi * u2
    want = np.stack([r * np.cos(th), r * np.sin(th)], axis=1).reshape(-1)[:n]
    np.testing.assert_allclose(z, want, rtol=1e-12, atol=1e-12)  # libm and NumPy may differ in the last bit
    np.testing.assert_array_equal(after, unit[n + 1:])
