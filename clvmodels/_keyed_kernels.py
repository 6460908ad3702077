"""numba kernels of the keyed random streams (see :mod:`clvmodels.streams`).

Imported by :mod:`clvmodels.streams` on first use, so that numba loads only when a forecast
simulates futures. The functions live at module level so that numba's on-disk cache
(``cache=True``) finds them again in the next process.

Every variate of element ``i`` is a pure function of ``(keys[i], salt)``: the element's stream
starts at ``mix(keys[i] ^ salt)`` and advances by the golden-ratio increment, each step's output
being ``mix(state)`` (SplitMix64: Steele, Lea & Flood 2014, "Fast splittable pseudorandom
number generators", OOPSLA). Rejection samplers draw as many numbers as they need from the
element's own stream, so no element's values depend on any other element.
"""

import math

import numba
import numpy as np

jit = numba.njit(nogil=True, cache=True, error_model="numpy")

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


@jit
def mix(z):
    """SplitMix64's finaliser: a bijection of 64-bit integers with full avalanche."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@jit
def _next(state):
    """Advance a stream; a uniform in the open interval (0, 1)."""
    state = state + GOLDEN
    return state, (float(mix(state) >> _S11) + 0.5) * _TO_UNIT


@jit
def _normal(state):
    """A standard normal (Box & Muller 1958, the cosine half)."""
    state, u1 = _next(state)
    state, u2 = _next(state)
    return state, math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@jit
def _log_gamma_at_least_one(state, shape):
    """log of a Gamma(shape, 1) variate, shape >= 1 (Marsaglia & Tsang 2000, ACM TOMS 26(3))."""
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        state, z = _normal(state)
        v = 1.0 + c * z
        if v <= 0.0:
            continue
        v = v * v * v
        state, u = _next(state)
        if math.log(u) < 0.5 * z * z + d - d * v + d * math.log(v):
            return state, math.log(d) + math.log(v)


@jit
def _log_gamma(state, shape):
    """log of a Gamma(shape, 1) variate; below 1 by ``G(shape + 1) U^(1/shape)`` (Marsaglia &
    Tsang 2000, sec. 5), in logs so that small shapes do not underflow."""
    if not shape > 0.0:
        return state, math.nan
    if shape < 1.0:
        state, lg = _log_gamma_at_least_one(state, shape + 1.0)
        state, u = _next(state)
        return state, lg + math.log(u) / shape
    return _log_gamma_at_least_one(state, shape)


@jit
def _poisson(state, lam):
    """A Poisson(lam) count: multiplication below 10, PTRS above (Hoermann 1993, Insurance:
    Mathematics and Economics 12(1), the algorithm numpy uses)."""
    if lam == 0.0:
        return state, 0
    if not lam > 0.0 or not lam < 1e300:
        return state, -1  # flagged by the caller
    if lam < 10.0:
        limit = math.exp(-lam)
        product = 1.0
        k = 0
        while True:
            state, u = _next(state)
            product *= u
            if product <= limit:
                return state, k
            k += 1
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        state, u = _next(state)
        u -= 0.5
        state, v = _next(state)
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return state, int(k)
        if k < 0.0 or (us < 0.013 and v > us):
            continue
        if math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b) <= -lam + k * loglam - math.lgamma(k + 1.0):
            return state, int(k)


@jit
def uniform(keys, salt, out):
    for i in range(keys.shape[0]):
        _, out[i] = _next(mix(keys[i] ^ salt))


@jit
def exponential(keys, salt, out):
    for i in range(keys.shape[0]):
        _, u = _next(mix(keys[i] ^ salt))
        out[i] = -math.log(u)


@jit
def gamma(keys, salt, shape, out):
    for i in range(keys.shape[0]):
        _, lg = _log_gamma(mix(keys[i] ^ salt), shape[i])
        out[i] = math.exp(lg)


@jit
def beta(keys, salt, a, b, out):
    """``X / (X + Y)`` for independent ``X ~ Gamma(a)``, ``Y ~ Gamma(b)``, from their logs."""
    for i in range(keys.shape[0]):
        state = mix(keys[i] ^ salt)
        state, lx = _log_gamma(state, a[i])
        state, ly = _log_gamma(state, b[i])
        d = ly - lx
        if d > 0.0:
            e = math.exp(-d)
            out[i] = e / (1.0 + e)
        else:
            out[i] = 1.0 / (1.0 + math.exp(d))


@jit
def poisson(keys, salt, lam, out):
    for i in range(keys.shape[0]):
        _, out[i] = _poisson(mix(keys[i] ^ salt), lam[i])


@jit
def derive(keys, index, rank, salt, out):
    """Keys of sub-streams: ``rank``-th child of element ``index`` (e.g. a purchase of a cell)."""
    for i in range(index.shape[0]):
        out[i] = mix(mix(keys[index[i]] ^ salt) + (np.uint64(rank[i]) + np.uint64(1)) * GOLDEN)


@jit
def combine(keys, columns, out):
    """Fold the bit patterns of ``columns`` (k, n) into the keys ``keys`` (n,)."""
    for i in range(out.shape[0]):
        h = keys[i]
        for j in range(columns.shape[0]):
            h = mix(h ^ mix(columns[j, i] + (np.uint64(j) + np.uint64(1)) * GOLDEN))
        out[i] = h
