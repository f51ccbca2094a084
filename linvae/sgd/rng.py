"""In-kernel random numbers: xoshiro256++ bits and a 256-layer ziggurat for N(0, 1).

Why not numpy's generator: one SGD step needs N fresh normals, and drawing them through
``Generator.standard_normal`` costs about 10 ns each on the reference machine, which would be
most of a step. The same algorithm (Marsaglia & Tsang's ziggurat with 52-bit mantissas and
the 8 low bits choosing the layer, as numpy does) fused into the jitted step costs a fraction
of that. Statistics are checked in ``tests/linvae/sgd/test_rng.py``.

Symbols: ``s`` the 4-word xoshiro256++ state; ``ki, wi, fi`` the ziggurat tables (integer
acceptance thresholds, layer widths, density at layer edges); ``R`` the base-strip edge.

References
----------
G. Marsaglia & W. W. Tsang, "The Ziggurat Method for Generating Random Variables",
J. Stat. Softw. 5(8), 2000. D. Blackman & S. Vigna, "Scrambled linear pseudorandom number
generators", ACM TOMS 47(4), 2021 (xoshiro256++).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_N_LAYERS = 256
_R = 3.6541528853610088  # start of the tail for 256 layers
_V = 4.92867323399e-3  # area of each layer
_M52 = float(2**52)


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ki = np.zeros(_N_LAYERS, dtype=np.uint64)
    wi = np.zeros(_N_LAYERS)
    fi = np.zeros(_N_LAYERS)
    dn = tn = _R
    q = _V / math.exp(-0.5 * dn * dn)
    ki[0] = np.uint64(int((dn / q) * _M52))
    ki[1] = 0
    wi[0] = q / _M52
    wi[-1] = dn / _M52
    fi[0] = 1.0
    fi[-1] = math.exp(-0.5 * dn * dn)
    for i in range(_N_LAYERS - 2, 0, -1):
        dn = math.sqrt(-2.0 * math.log(_V / dn + math.exp(-0.5 * dn * dn)))
        ki[i + 1] = np.uint64(int((dn / tn) * _M52))
        tn = dn
        fi[i] = math.exp(-0.5 * dn * dn)
        wi[i] = dn / _M52
    return ki, wi, fi


_KI_U64, WI, FI = _ziggurat_tables()
KI = _KI_U64.astype(np.int64)  # thresholds < 2**52: signed compare and int -> float are fast
_MASK52 = np.uint64(0x000FFFFFFFFFFFFF)


@nb.njit(inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@nb.njit(inline="always")
def xoshiro_step(s0, s1, s2, s3):
    """xoshiro256++ on a state held in locals: returns (bits, s0, s1, s2, s3).

    The simulator's hot loop keeps the state in registers this way and writes it back to the
    state array only for the rare slow path of the ziggurat (see `next_normal`, which
    draws the same sequence).
    """
    result = _rotl(s0 + s3, 23) + s0
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@nb.njit(inline="always")
def next_u64(s):
    """Advance the xoshiro256++ state ``s`` (uint64[4]) and return 64 random bits."""
    result, s[0], s[1], s[2], s[3] = xoshiro_step(s[0], s[1], s[2], s[3])
    return result


@nb.njit(inline="always")
def next_double(s):
    """Uniform double in [0, 1) with 53 random bits."""
    return float(next_u64(s) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@nb.njit(inline="always")
def candidate(r):
    """Decode 64 random bits into a ziggurat candidate (layer, 52-bit magnitude, value): the
    8 low bits choose the layer, bit 8 the sign, bits 9-60 the magnitude (as numpy does).
    The candidate is accepted at once when ``magnitude < KI[layer]``."""
    idx = np.int64(r & np.uint64(0xFF))
    rabs = np.int64((r >> np.uint64(9)) & _MASK52)
    x = float(rabs) * WI[idx]
    if (r >> np.uint64(8)) & np.uint64(1):
        x = -x
    return idx, rabs, x


@nb.njit
def normal_slow(s, idx, rabs, x):
    """Rare path of the ziggurat (about 1.2% of draws): the tail strip or the wedge test,
    then fresh candidates until one is accepted. Advances ``s``."""
    while True:
        if idx == 0:
            while True:
                xx = -math.log1p(-next_double(s)) / _R
                yy = -math.log1p(-next_double(s))
                if yy + yy > xx * xx:
                    return -(_R + xx) if (rabs >> 8) & 1 else _R + xx
        if (FI[idx - 1] - FI[idx]) * next_double(s) + FI[idx] < math.exp(-0.5 * x * x):
            return x
        idx, rabs, x = candidate(next_u64(s))
        if rabs < KI[idx]:
            return x


@nb.njit(inline="always")
def next_normal(s):
    """One standard normal from the state ``s`` (uint64[4], advanced in place)."""
    idx, rabs, x = candidate(next_u64(s))
    if rabs < KI[idx]:
        return x
    return normal_slow(s, idx, rabs, x)


@nb.njit(cache=True)
def fill_normals(state, out):
    """Fill ``out`` (float64, 1-D) with standard normals, advancing ``state`` (uint64[4]).

    Draws exactly the numbers that the simulator's fused loop draws from the same state.
    """
    for i in range(out.shape[0]):
        out[i] = next_normal(state)


def seed_states(seed_sequences) -> np.ndarray:
    """xoshiro256++ states (S, 4) from numpy SeedSequences (never the all-zero state)."""
    states = np.stack([ss.generate_state(4, np.uint64) for ss in seed_sequences])
    zero = ~states.any(axis=1)
    states[zero, 0] = np.uint64(0x9E3779B97F4A7C15)
    return states


def standard_normal(n: int, *, rng=None) -> np.ndarray:
    """Draw ``n`` standard normals with the simulator's in-kernel generator.

    Exposed so that the generator's statistics can be tested and compared with numpy.

    Parameters
    ----------
    n : int
        Number of draws.
    rng : int, numpy SeedSequence or None
        Seed of the stream.
    """
    ss = rng if isinstance(rng, np.random.SeedSequence) else np.random.SeedSequence(rng)
    state = seed_states([ss])[0]
    out = np.empty(int(n))
    fill_normals(state, out)
    return out
