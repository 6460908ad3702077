"""numba-compiled log-posterior kernels (see :mod:`clvmodels.inference.kernels`).

Imported by :func:`clvmodels.inference.kernels._compiled` on first use, so that numba loads
only when a Bayesian fit needs it. The functions live at module level so that numba's on-disk
cache (``cache=True``) finds them again in the next process.
"""

import math

import numba
import numpy as np

__all__ = ["beta_geo", "beta_geo_frequency", "beta_geo_linked", "beta_geo_split", "beta_geo_split_d", "digamma", "gamma_gamma", "log_prior"]

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
def trigamma(x: float) -> float:
    # recurrence up to 6, then the asymptotic series (relative error below 1e-10 for x >= 1e-4)
    result = 0.0
    while x < 6.0:
        result += 1.0 / (x * x)
        x += 1.0
    f = 1.0 / (x * x)
    series = 1.0 / x + 0.5 * f + (f / x) * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30 - f * (5.0 / 66)))))
    return result + series


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
def _frequency_point(r, a, b, x):
    """One customer's BG/NBD terms that depend on the data through x only, with their first and
    second derivatives: ``lnG(r+x) - lnG(r)``, ``A2``, d/dr, d/da, d/db, d2/dr2, d2/da2 (=
    d2/da db), d2/db2. For whole x (purchase counts) the differences of log-gamma and
    (tri)digamma functions are summed term by term (``lnG(r+x) - lnG(r) = sum_k ln(r+k)``,
    ``A2 = -sum_k ln(1 + a / (b+k))``), at a cost in proportion to the purchases and more
    accurate than the difference of two large log-gammas (which loses six digits at b = 1e6);
    for fractional x the functions themselves."""
    n = int(x)
    if n == x:
        g = a2 = fr = fa = fb = frr = faa = fbb = 0.0
        for k in range(n):
            rk, bk, abk = r + k, b + k, a + b + k
            g += math.log(rk)
            a2 -= math.log1p(a / bk)
            fr += 1.0 / rk
            frr -= 1.0 / (rk * rk)
            fa -= 1.0 / abk
            fb += 1.0 / bk - 1.0 / abk
            faa += 1.0 / (abk * abk)
            fbb += 1.0 / (abk * abk) - 1.0 / (bk * bk)
        return g, a2, fr, fa, fb, frr, faa, fbb
    g = math.lgamma(r + x) - math.lgamma(r)
    a2 = math.lgamma(a + b) + math.lgamma(b + x) - math.lgamma(b) - math.lgamma(a + b + x)
    fr = digamma(r + x) - digamma(r)
    fa = digamma(a + b) - digamma(a + b + x)
    fb = fa + digamma(b + x) - digamma(b)
    frr = trigamma(r + x) - trigamma(r)
    faa = trigamma(a + b) - trigamma(a + b + x)
    fbb = faa + trigamma(b + x) - trigamma(b)
    return g, a2, fr, fa, fb, frr, faa, fbb


@jit
def beta_geo_frequency(r, a, b, x, out):
    """Per customer, the BG/NBD terms that depend on the data through x only, and their
    derivatives (``out`` rows: lnG(r+x) - lnG(r), A2, d/dr, d/da, d/db; see
    :func:`clvmodels.models.beta_geo._frequency_terms` and :func:`_frequency_point`), for
    parameters that differ by customer (covariates)."""
    for i in range(x.shape[0]):
        g, a2, fr, fa, fb, _, _, _ = _frequency_point(r[i], a[i], b[i], x[i])
        out[0, i], out[1, i], out[2, i], out[3, i], out[4, i] = g, a2, fr, fa, fb


@jit
def _beta_geo_point(r, alpha, a, b, x, t_x, T, g, h):
    """One customer's BG/NBD log-likelihood, with its gradient ``g`` (4) and Hessian ``h``
    (4 x 4) with respect to ``(ln r, ln alpha, ln a, ln b)`` written in place (the terms of
    :func:`clvmodels.models.beta_geo.loglik`; ``ln(e^A3 + e^A4)`` has the Hessian
    ``w3 H3 + w4 H4 + w3 w4 (g4 - g3)(g4 - g3)'``)."""
    # derivatives with respect to theta = (r, alpha, a, b) first: the terms of x alone
    value, a2, g_r, g_a, g_b, h_rr, h_aa, h_bb = _frequency_point(r, a, b, x)
    value += a2
    h_ab = h_aa
    g_al = h_ral = h_alal = 0.0
    # r ln(alpha)
    log_alpha = math.log(alpha)
    value += r * log_alpha
    g_r += log_alpha
    g_al += r / alpha
    h_ral += 1.0 / alpha
    h_alal -= r / (alpha * alpha)
    # A3 = -(r + x) ln(alpha + T)
    rx = r + x
    at = alpha + T
    lat = math.log(at)
    a3 = -rx * lat
    g3_r, g3_al = -lat, -rx / at
    if x > 0:
        # A4 = ln a - ln(b + x - 1) - (r + x) ln(alpha + t_x), and ln(e^A3 + e^A4)
        ar = alpha + t_x
        lar = math.log(ar)
        b1 = b + max(x, 1.0) - 1.0
        d = math.log(a) - math.log(b1) - rx * lar - a3
        e = math.exp(-abs(d))
        q = 1.0 / (1.0 + e)
        if d >= 0:
            value += a3 + d + math.log1p(e)
            w4, w3 = q, e * q
        else:
            value += a3 + math.log1p(e)
            w4, w3 = e * q, q
        g4_r, g4_al, g4_a, g4_b = -lar, -rx / ar, 1.0 / a, -1.0 / b1
        g_r += w3 * g3_r + w4 * g4_r
        g_al += w3 * g3_al + w4 * g4_al
        g_a += w4 * g4_a
        g_b += w4 * g4_b
        h_ral -= w3 / at + w4 / ar
        h_alal += w3 * rx / (at * at) + w4 * rx / (ar * ar)
        h_aa -= w4 / (a * a)
        h_bb += w4 / (b1 * b1)
        c = w3 * w4
        d_r, d_al = g4_r - g3_r, g4_al - g3_al  # g4 - g3 (A3 has no a, b terms)
        h_rr += c * d_r * d_r
        h_ral += c * d_r * d_al
        h_alal += c * d_al * d_al
        h_aa += c * g4_a * g4_a
        h_ab += c * g4_a * g4_b
        h_bb += c * g4_b * g4_b
        h_ra, h_rb = c * d_r * g4_a, c * d_r * g4_b
        h_ala, h_alb = c * d_al * g4_a, c * d_al * g4_b
    else:
        value += a3
        g_r += g3_r
        g_al += g3_al
        h_ral -= 1.0 / at
        h_alal += rx / (at * at)
        h_ra = h_rb = h_ala = h_alb = 0.0
    # to log-parameters: g_l = theta g, H_l = theta H theta' + diag(g_l)
    g[0], g[1], g[2], g[3] = r * g_r, alpha * g_al, a * g_a, b * g_b
    h[0, 0] = r * r * h_rr + g[0]
    h[1, 1] = alpha * alpha * h_alal + g[1]
    h[2, 2] = a * a * h_aa + g[2]
    h[3, 3] = b * b * h_bb + g[3]
    h[0, 1] = h[1, 0] = r * alpha * h_ral
    h[0, 2] = h[2, 0] = r * a * h_ra
    h[0, 3] = h[3, 0] = r * b * h_rb
    h[1, 2] = h[2, 1] = alpha * a * h_ala
    h[1, 3] = h[3, 1] = alpha * b * h_alb
    h[2, 3] = h[3, 2] = a * b * h_ab
    return value


@jit
def beta_geo_linked(u, targets, signs, Z, x, t_x, T, w, lo, hi, hessian, grad, hess):
    """Weighted BG/NBD log-likelihood of the customers ``lo:hi`` whose log-parameters are
    linear in ``u = (ln r0, ln alpha0, ln a0, ln b0, coefficients)``: coefficient ``j`` moves
    the log-parameters ``targets[j, 0]`` and ``targets[j, 1]`` (-1: none) by ``signs[j, .] *
    Z[i, j] * u[4 + j]``. Adds the gradient with respect to ``u`` to ``grad`` and (with
    ``hessian``) the upper triangle of the Hessian to ``hess``, by the chain rule ``A_i' g_i``
    and ``A_i' H_i A_i``, exact since the links are linear in the log-parameters."""
    n_coef = targets.shape[0]
    g = np.empty(4)
    h = np.empty((4, 4))
    hm = np.empty((4, n_coef))  # H_i A_i (coefficient columns)
    # local sums, added to the outputs at the end (threads writing the outputs of neighbouring
    # chunks row by row would share cache lines)
    dim = 4 + n_coef
    acc_g = np.zeros(dim)
    acc_h = np.zeros((dim, dim)) if hessian else np.zeros((1, 1))
    value = 0.0
    for i in range(lo, hi):
        wi = w[i]
        for k in range(4):
            g[k] = u[k]
        for j in range(n_coef):
            step = Z[i, j] * u[4 + j]
            for c in range(2):
                if targets[j, c] >= 0:
                    g[targets[j, c]] += signs[j, c] * step
        for k in range(4):
            g[k] = math.exp(g[k])
        value += wi * _beta_geo_point(g[0], g[1], g[2], g[3], x[i], t_x[i], T[i], g, h)
        for k in range(4):
            acc_g[k] += wi * g[k]
        for j in range(n_coef):
            s = 0.0
            for c in range(2):
                if targets[j, c] >= 0:
                    s += signs[j, c] * g[targets[j, c]]
            acc_g[4 + j] += wi * Z[i, j] * s
        if not hessian:
            continue
        for k in range(4):
            for l in range(k, 4):
                acc_h[k, l] += wi * h[k, l]
            for j in range(n_coef):
                s = 0.0
                for c in range(2):
                    if targets[j, c] >= 0:
                        s += signs[j, c] * h[k, targets[j, c]]
                hm[k, j] = Z[i, j] * s
                acc_h[k, 4 + j] += wi * hm[k, j]
        for j in range(n_coef):
            zw = wi * Z[i, j]
            for jj in range(j, n_coef):
                s = 0.0
                for c in range(2):
                    if targets[j, c] >= 0:
                        s += signs[j, c] * hm[targets[j, c], jj]
                acc_h[4 + j, 4 + jj] += zw * s
    for k in range(dim):
        grad[k] += acc_g[k]
        if hessian:
            for l in range(dim):
                hess[k, l] += acc_h[k, l]
    return value
