"""numba-compiled log-posterior kernels (see :mod:`clvmodels.inference.kernels`).

Imported by :func:`clvmodels.inference.kernels._compiled` on first use, so that numba loads
only when a Bayesian fit needs it. The functions live at module level so that numba's on-disk
cache (``cache=True``) finds them again in the next process.
"""

import math

import numba
import numpy as np

__all__ = ["beta_geo", "beta_geo_frequency", "beta_geo_split", "beta_geo_split_d", "digamma", "gamma_gamma", "log_prior"]

jit = numba.njit(nogil=True, cache=True, error_model="numpy")
# the two stages of the split kernel may reorder their sums (SIMD); inf and nan keep IEEE
# semantics, so a log-density of -inf still rejects a proposal
jit_simd = numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"reassoc", "contract"})


@jit
def digamma(x: float) -> float:
    # recurrence up to 6, then the asymptotic series (relative error below 1e-10 for x >= 1e-4)
    result = 0.0
    while x < 6.0:
        result -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    series = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))))
    return result + math.log(x) - 0.5 / x - series


@jit
def log_prior(code: float, p1: float, p2: float, u: float) -> tuple[float, float]:
    """log prior(theta) + u and its derivative in u, for theta = exp(u)."""
    theta = math.exp(u)
    c = int(code)
    if c == 0:  # LogNormal(mu, sigma): u ~ Normal(mu, sigma)
        z = (u - p1) / p2
        return -0.5 * z * z - math.log(p2) - 0.5 * math.log(2 * math.pi), -z / p2
    if c == 1:  # Gamma(alpha=shape, beta=rate)
        return p1 * math.log(p2) - math.lgamma(p1) + p1 * u - p2 * theta, p1 - p2 * theta
    if c == 2:  # HalfNormal(sigma)
        z = theta / p1
        return 0.5 * math.log(2 / math.pi) - math.log(p1) - 0.5 * z * z + u, 1.0 - z * z
    if c == 3:  # Exponential(lam)
        return math.log(p1) - p1 * theta + u, 1.0 - p1 * theta
    if c == 4:  # Weibull(alpha=shape, beta=scale)
        zk = (theta / p2) ** p1
        return math.log(p1) - p1 * math.log(p2) + p1 * u - zk, p1 - p1 * zk
    if c == 5:  # HalfCauchy(beta)
        z2 = (theta / p1) ** 2
        return math.log(2 / math.pi) - math.log(p1) - math.log1p(z2) + u, 1.0 - 2 * z2 / (1 + z2)
    # HalfStudentT(nu, sigma)
    s = (theta / p2) ** 2 / p1
    const = math.log(2.0) + math.lgamma((p1 + 1) / 2) - math.lgamma(p1 / 2) - 0.5 * math.log(p1 * math.pi)
    return const - math.log(p2) - (p1 + 1) / 2 * math.log1p(s) + u, 1.0 - (p1 + 1) * s / (1 + s)


@jit
def beta_geo(u, priors, xs, wx, T0, w0, Tu, Ru, ix, iT, iR, w, grad):
    r, alpha, a, b = math.exp(u[0]), math.exp(u[1]), math.exp(u[2]), math.exp(u[3])
    g_r = g_alpha = g_a = g_b = 0.0
    value = 0.0
    n = 0.0
    # frequency terms: lnG(r+x) - lnG(r) + lnB(a, b+x) - lnB(a, b), once per distinct x
    lg_r, lg_b, lg_ab = math.lgamma(r), math.lgamma(b), math.lgamma(a + b)
    dg_r, dg_b, dg_ab = digamma(r), digamma(b), digamma(a + b)
    n_levels = xs.shape[0]
    log_b1 = np.empty(n_levels)  # log(b + x - 1) for x > 0
    inv_b1 = np.empty(n_levels)
    for k in range(n_levels):
        x, wk = xs[k], wx[k]
        n += wk
        dg_abx = digamma(a + b + x)
        value += wk * (math.lgamma(r + x) - lg_r + lg_ab + math.lgamma(b + x) - lg_b - math.lgamma(a + b + x))
        g_r += wk * (digamma(r + x) - dg_r)
        g_a += wk * (dg_ab - dg_abx)
        g_b += wk * (dg_ab + digamma(b + x) - dg_b - dg_abx)
        b1 = b + max(x, 1.0) - 1.0
        log_b1[k] = math.log(b1)
        inv_b1[k] = 1.0 / b1
    log_alpha = math.log(alpha)
    value += n * r * log_alpha
    g_r += n * log_alpha
    g_alpha += n * r / alpha
    # x = 0: A3 = -r ln(alpha + T), over distinct T
    s_log = s_inv = 0.0
    for j in range(T0.shape[0]):
        s_log += w0[j] * math.log(alpha + T0[j])
        s_inv += w0[j] / (alpha + T0[j])
    value -= r * s_log
    g_r -= s_log
    g_alpha -= r * s_inv
    # x > 0: ln(exp(A3) + exp(A4)) with logs over distinct T and t_x
    log_T = np.empty(Tu.shape[0])
    inv_T = np.empty(Tu.shape[0])
    for j in range(Tu.shape[0]):
        log_T[j] = math.log(alpha + Tu[j])
        inv_T[j] = 1.0 / (alpha + Tu[j])
    log_R = np.empty(Ru.shape[0])
    inv_R = np.empty(Ru.shape[0])
    for j in range(Ru.shape[0]):
        log_R[j] = math.log(alpha + Ru[j])
        inv_R[j] = 1.0 / (alpha + Ru[j])
    log_a = math.log(a)
    for i in range(w.shape[0]):
        k, jT, jR, wi = ix[i], iT[i], iR[i], w[i]
        rx = r + xs[k]
        a3 = -rx * log_T[jT]
        d = log_a - log_b1[k] - rx * log_R[jR] - a3  # A4 - A3
        e = math.exp(-abs(d))
        q = 1.0 / (1.0 + e)
        if d >= 0:
            softplus, w4 = d + math.log1p(e), q
        else:
            softplus, w4 = math.log1p(e), e * q
        w3 = 1.0 - w4
        value += wi * (a3 + softplus)
        g_r -= wi * (w3 * log_T[jT] + w4 * log_R[jR])
        g_alpha -= wi * rx * (w3 * inv_T[jT] + w4 * inv_R[jR])
        g_a += wi * w4 / a
        g_b -= wi * w4 * inv_b1[k]
    theta_grad = (g_r * r, g_alpha * alpha, g_a * a, g_b * b)
    for k in range(4):
        lp, dlp = log_prior(priors[k, 0], priors[k, 1], priors[k, 2], u[k])
        value += lp
        grad[k] = theta_grad[k] + dlp
    return value


@jit_simd
def beta_geo_split_d(u, xs, Tu, Ru, ix, iT, iR, d, neg_abs_d, log_T, log_R):
    """Stage 1 of the split kernel: ``d = A4 - A3`` per repeat-buyer pattern and ``-|d|``."""
    r, alpha, a, b = math.exp(u[0]), math.exp(u[1]), math.exp(u[2]), math.exp(u[3])
    for j in range(Tu.shape[0]):
        log_T[j] = math.log(alpha + Tu[j])
    for j in range(Ru.shape[0]):
        log_R[j] = math.log(alpha + Ru[j])
    log_a = math.log(a)
    c = np.empty(xs.shape[0])  # ln(a) - ln(b + x - 1) per distinct x
    for k in range(xs.shape[0]):
        c[k] = log_a - math.log(b + max(xs[k], 1.0) - 1.0)
    for i in range(d.shape[0]):
        k = ix[i]
        d[i] = c[k] + (r + xs[k]) * (log_T[iT[i]] - log_R[iR[i]])
        neg_abs_d[i] = -abs(d[i])


@jit_simd
def beta_geo_split(u, priors, xs, wx, T0, w0, Tu, Ru, ix, iT, iR, w, d, e, log1p_e, log_T, log_R, grad):
    """Stage 2: as :func:`beta_geo`, with ``e = exp(-|d|)`` and ``log1p(e)`` given (numpy's
    vectorised exp and log1p are several times faster than scalar calls on large data)."""
    r, alpha, a, b = math.exp(u[0]), math.exp(u[1]), math.exp(u[2]), math.exp(u[3])
    g_r = g_alpha = g_a = g_b = 0.0
    value = 0.0
    n = 0.0
    lg_r, lg_b, lg_ab = math.lgamma(r), math.lgamma(b), math.lgamma(a + b)
    dg_r, dg_b, dg_ab = digamma(r), digamma(b), digamma(a + b)
    n_levels = xs.shape[0]
    inv_b1 = np.empty(n_levels)
    for k in range(n_levels):
        x, wk = xs[k], wx[k]
        n += wk
        dg_abx = digamma(a + b + x)
        value += wk * (math.lgamma(r + x) - lg_r + lg_ab + math.lgamma(b + x) - lg_b - math.lgamma(a + b + x))
        g_r += wk * (digamma(r + x) - dg_r)
        g_a += wk * (dg_ab - dg_abx)
        g_b += wk * (dg_ab + digamma(b + x) - dg_b - dg_abx)
        inv_b1[k] = 1.0 / (b + max(x, 1.0) - 1.0)
    log_alpha = math.log(alpha)
    value += n * r * log_alpha
    g_r += n * log_alpha
    g_alpha += n * r / alpha
    s_log = s_inv = 0.0
    for j in range(T0.shape[0]):
        s_log += w0[j] * math.log(alpha + T0[j])
        s_inv += w0[j] / (alpha + T0[j])
    value -= r * s_log
    g_r -= s_log
    g_alpha -= r * s_inv
    inv_T = np.empty(Tu.shape[0])
    for j in range(Tu.shape[0]):
        inv_T[j] = 1.0 / (alpha + Tu[j])
    inv_R = np.empty(Ru.shape[0])
    for j in range(Ru.shape[0]):
        inv_R[j] = 1.0 / (alpha + Ru[j])
    for i in range(w.shape[0]):
        k, jT, jR, wi = ix[i], iT[i], iR[i], w[i]
        rx = r + xs[k]
        q = 1.0 / (1.0 + e[i])
        positive = d[i] >= 0  # branch-free selects, so that the loop vectorises
        softplus = max(d[i], 0.0) + log1p_e[i]
        w4 = q if positive else e[i] * q
        w3 = 1.0 - w4
        value += wi * (softplus - rx * log_T[jT])
        g_r -= wi * (w3 * log_T[jT] + w4 * log_R[jR])
        g_alpha -= wi * rx * (w3 * inv_T[jT] + w4 * inv_R[jR])
        g_a += wi * w4 / a
        g_b -= wi * w4 * inv_b1[k]
    theta_grad = (g_r * r, g_alpha * alpha, g_a * a, g_b * b)
    for k in range(4):
        lp, dlp = log_prior(priors[k, 0], priors[k, 1], priors[k, 2], u[k])
        value += lp
        grad[k] = theta_grad[k] + dlp
    return value


@jit
def gamma_gamma(u, priors, xs, wx, log_xs, ix, m, log_m, w, grad):
    p, q, gamma = math.exp(u[0]), math.exp(u[1]), math.exp(u[2])
    value = g_p = g_q = g_gamma = 0.0
    log_gamma = math.log(gamma)
    lg_q, dg_q = math.lgamma(q), digamma(q)
    n_levels = xs.shape[0]
    dg_pxq = np.empty(n_levels)
    for k in range(n_levels):
        x, wk = xs[k], wx[k]
        px = p * x
        dg_pxq[k] = digamma(px + q)
        value += wk * (math.lgamma(px + q) - math.lgamma(px) - lg_q + q * log_gamma + px * log_xs[k])
        g_p += wk * x * (dg_pxq[k] - digamma(px) + log_xs[k])
        g_q += wk * (dg_pxq[k] - dg_q + log_gamma)
        g_gamma += wk * q / gamma
    for i in range(w.shape[0]):
        k, wi = ix[i], w[i]
        x = xs[k]
        px = p * x
        gmx = gamma + m[i] * x
        log_gmx = math.log(gmx)
        value += wi * ((px - 1) * log_m[i] - (px + q) * log_gmx)
        g_p += wi * x * (log_m[i] - log_gmx)
        g_q -= wi * log_gmx
        g_gamma -= wi * (px + q) / gmx
    theta_grad = (g_p * p, g_q * q, g_gamma * gamma)
    for k in range(3):
        lp, dlp = log_prior(priors[k, 0], priors[k, 1], priors[k, 2], u[k])
        value += lp
        grad[k] = theta_grad[k] + dlp
    return value


@jit
def beta_geo_frequency(r, a, b, x, out):
    """Per customer, the BG/NBD terms that depend on the data through x only, and their
    derivatives (``out`` rows: lnG(r+x) - lnG(r), A2, d/dr, d/da, d/db; see
    :func:`clvmodels.models.beta_geo._frequency_terms`), for parameters that differ by customer
    (covariates). For whole x (purchase counts) the differences of log-gamma and digamma
    functions are summed term by term (``lnG(r+x) - lnG(r) = sum_k ln(r+k)``,
    ``A2 = -sum_k ln(1 + a / (b+k))``), at a cost in proportion to the purchases and more
    accurate than the difference of two large log-gammas (which loses six digits at b = 1e6);
    for fractional x the functions themselves."""
    for i in range(x.shape[0]):
        xi, ri, ai, bi = x[i], r[i], a[i], b[i]
        n = int(xi)
        if n == xi:
            g = a2 = fr = fa = fb = 0.0
            for k in range(n):
                g += math.log(ri + k)
                fr += 1.0 / (ri + k)
                a2 -= math.log1p(ai / (bi + k))
                fa -= 1.0 / (ai + bi + k)
                fb += 1.0 / (bi + k) - 1.0 / (ai + bi + k)
        else:
            g = math.lgamma(ri + xi) - math.lgamma(ri)
            a2 = math.lgamma(ai + bi) + math.lgamma(bi + xi) - math.lgamma(bi) - math.lgamma(ai + bi + xi)
            fr = digamma(ri + xi) - digamma(ri)
            dg_ab, dg_abx = digamma(ai + bi), digamma(ai + bi + xi)
            fa = dg_ab - dg_abx
            fb = dg_ab + digamma(bi + xi) - digamma(bi) - dg_abx
        out[0, i], out[1, i], out[2, i], out[3, i], out[4, i] = g, a2, fr, fa, fb
