"""Maximum likelihood on log-parameters, with standard errors from the observed information.

The optimiser works on ``u = log(theta)`` so that every parameter stays positive. It runs
L-BFGS-B with the model's analytic gradient from a few starting points (bounded to
``|u| <= 20`` so that no step overflows), falls back to Nelder-Mead when that fails, and
polishes the best point with Newton steps on a finite-difference Hessian of the analytic
gradient. The covariance of ``u`` is the inverse of the Hessian of the negative (penalised)
log-likelihood; the covariance of ``theta`` follows by the delta method, ``J C J`` with
``J = diag(theta)``, so it is symmetric.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import optimize
from threadpoolctl import ThreadpoolController

__all__ = ["MLEResult", "maximize_loglik", "maximize_newton", "single_threaded_blas"]

_BOUND = 20.0
_GRAD_TOL = 1e-6
#: Newton's method reports no maximum where the Hessian's smallest eigenvalue is below this
#: share of its largest (the likelihood is flat along a direction; finite differences of the
#: gradient, accurate to about 1e-7, could not tell it from 0 either)
FLAT = 1e-8


@dataclass
class MLEResult:
    """Outcome of :func:`maximize_loglik`.

    Examples
    --------
    >>> result = MLEResult(params=np.array([2.0, 3.0]), loglik=-10.0, converged=True,
    ...                    covariance_log=np.array([[0.01, 0.002], [0.002, 0.04]]))
    >>> result.covariance
    array([[0.04 , 0.012],
           [0.012, 0.36 ]])
    """

    params: np.ndarray  #: estimate of theta
    loglik: float  #: total (unpenalised) log-likelihood at the estimate
    covariance_log: np.ndarray  #: covariance of log(theta)
    converged: bool
    diagnostics: dict = field(default_factory=dict)

    @property
    def covariance(self) -> np.ndarray:
        """Covariance of theta by the delta method, ``J C J`` with ``J = diag(theta)``.

        Examples
        --------
        >>> MLEResult(np.array([0.5]), -6.8, np.array([[0.25]]), True).covariance
        array([[0.0625]])
        """
        jac = np.diag(self.params)
        cov = jac @ self.covariance_log @ jac
        return (cov + cov.T) / 2.0


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS to one thread for the duration of a fit.

    The optimiser's work is many small vector operations. A multithreaded BLAS (OpenBLAS)
    leaves its threads spinning between calls, which on a 2-core machine slowed the numpy work
    in between by a factor of 2, and under load made a 4-parameter L-BFGS-B solve take 80 ms
    instead of 0.3 ms. One thread is faster here, whatever the machine.

    Examples
    --------
    >>> from threadpoolctl import threadpool_info
    >>> with single_threaded_blas():
    ...     threads = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    >>> all(n == 1 for n in threads)
    True
    """
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


@lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    # scanning the loaded libraries takes ~2 ms, so it is done once (numpy and scipy, whose
    # BLAS libraries are the ones used here, are loaded by then)
    return ThreadpoolController()


class _Objective:
    """Mean negative log-likelihood (plus penalty) as a function of u = log(theta)."""

    def __init__(self, loglik_and_grad, n_obs: float, penalty: float) -> None:
        self.loglik_and_grad, self.n_obs, self.penalty = loglik_and_grad, n_obs, penalty
        self.n_evals = 0
        self._cache: dict[bytes, tuple[float, np.ndarray]] = {}

    def value_and_grad(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        key = np.asarray(u, dtype=np.float64).tobytes()
        if key in self._cache:  # the optimiser, the Newton polish and the Hessian share points
            value, gradient = self._cache[key]
            return value, gradient.copy()
        self.n_evals += 1
        theta = np.exp(u)
        with np.errstate(all="ignore"):
            ll, g_theta = self.loglik_and_grad(theta)
        if not np.isfinite(ll) or not np.all(np.isfinite(g_theta)):
            value, gradient = np.inf, np.zeros_like(u)
        else:
            value = -ll / self.n_obs + self.penalty * float(np.sum(theta**2))
            gradient = -g_theta * theta / self.n_obs + 2.0 * self.penalty * theta**2
        if len(self._cache) >= 8:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = (float(value), gradient)
        return float(value), gradient.copy()

    def value(self, u: np.ndarray) -> float:
        return self.value_and_grad(u)[0]

    def gradient(self, u: np.ndarray) -> np.ndarray:
        return self.value_and_grad(u)[1]

    def hessian(self, u: np.ndarray, step: float = 1e-7) -> np.ndarray:
        """Forward differences of the analytic gradient (relative error about 1e-7), symmetrised."""
        k = len(u)
        g0 = self.gradient(u)
        hess = np.empty((k, k))
        for j in range(k):
            e = np.zeros(k)
            e[j] = step
            hess[:, j] = (self.gradient(u + e) - g0) / step
        return (hess + hess.T) / 2.0


def _newton_polish(
    obj: _Objective, u: np.ndarray, f: float, max_iter: int = 20
) -> tuple[np.ndarray, float, int, np.ndarray | None]:
    """Newton steps with backtracking from a point near the optimum.

    Returns the point, its objective, the number of steps and the last Hessian when the last
    step moved u by less than 1e-6 (so that it still holds at the returned point), else None.
    """
    steps = 0
    hess, moved = None, np.inf
    for _ in range(max_iter):
        g = obj.gradient(u)
        if np.max(np.abs(g)) < 1e-10:
            break
        hess = obj.hessian(u)
        moved = 0.0
        try:
            eigval = np.linalg.eigvalsh(hess)
            if eigval.min() <= 0:
                break
            direction = -np.linalg.solve(hess, g)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        noise = 64 * np.finfo(float).eps * max(1.0, abs(f))  # rounding error of the objective
        while t > 1e-4:
            candidate = np.clip(u + t * direction, -_BOUND, _BOUND)
            f_new = obj.value(candidate)
            if f_new <= f + noise:
                break
            t /= 2.0
        else:
            break
        moved = float(np.max(np.abs(candidate - u)))
        if moved < 1e-14:
            break
        u, f = candidate, f_new
        steps += 1
    return u, f, steps, (hess if moved < 1e-6 else None)


def maximize_loglik(
    loglik_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    starts: Sequence[Sequence[float]],
    *,
    n_obs: float,
    penalty: float = 0.0,
    max_iter: int = 2000,
    polish: bool = True,
) -> MLEResult:
    """Maximise a log-likelihood over positive parameters.

    Parameters
    ----------
    loglik_and_grad : callable
        ``loglik_and_grad(theta) -> (float, ndarray)``: the total log-likelihood (weighted sum
        over customers) and its gradient with respect to theta.
    starts : sequence of sequences
        Starting values of theta; each is tried until one converges, and the best is kept.
    n_obs : float
        Number of customers; the objective is the mean negative log-likelihood, which keeps the
        tolerances independent of the data size.
    penalty : float
        L2 penalty: ``penalty * sum(theta**2)`` is added to the mean negative log-likelihood
        (the convention of ``lifetimes``' ``penalizer_coef``).
    max_iter : int
        Iteration limit of each optimiser run.
    polish : bool
        Refine with Newton steps and compute the covariance; ``False`` returns the L-BFGS-B
        point alone (used for warm starts), with a NaN covariance.

    Returns
    -------
    MLEResult
        ``converged`` is True when the gradient is below tolerance, the Hessian is positive
        definite and no parameter sits at the bound ``exp(+-20)``.

    Examples
    --------
    The rate of exponential waiting times: the estimate is ``1 / mean(y)`` and its variance
    ``rate**2 / n``.

    >>> y = np.array([0.5, 1.5, 2.0, 4.0])
    >>> def loglik_and_grad(theta):
    ...     rate = theta[0]
    ...     return len(y) * np.log(rate) - rate * y.sum(), np.array([len(y) / rate - y.sum()])
    >>> result = maximize_loglik(loglik_and_grad, [(1.0,)], n_obs=len(y))
    >>> result.params.round(6), result.converged, result.covariance.round(4)
    (array([0.5]), True, array([[0.0625]]))
    """
    obj = _Objective(loglik_and_grad, n_obs, penalty)
    bounds = [(-_BOUND, _BOUND)] * len(starts[0])
    best = None
    runs = []
    for start in starts:
        u0 = np.log(np.asarray(start, dtype=np.float64))
        res = optimize.minimize(
            obj.value_and_grad,
            u0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": max_iter, "ftol": 1e-12, "gtol": 1e-8, "maxcor": 20},
        )
        runs.append(("L-BFGS-B", res))
        if np.isfinite(res.fun) and (best is None or res.fun < best[1].fun):
            best = ("L-BFGS-B", res)
        if np.isfinite(res.fun) and np.max(np.abs(obj.gradient(res.x))) < 1e-4:
            break
    if best is None or np.max(np.abs(obj.gradient(best[1].x))) >= 1e-4:
        # fallback: a derivative-free search, then L-BFGS-B again from where it ended
        u0 = best[1].x if best is not None else np.log(np.asarray(starts[0], dtype=np.float64))
        nm = optimize.minimize(
            obj.value,
            u0,
            method="Nelder-Mead",
            bounds=bounds,
            options={"maxiter": 400 * len(u0), "xatol": 1e-8, "fatol": 1e-12, "adaptive": True},
        )
        res = optimize.minimize(
            obj.value_and_grad, nm.x, jac=True, method="L-BFGS-B", bounds=bounds,
            options={"maxiter": max_iter, "ftol": 1e-12, "gtol": 1e-8, "maxcor": 20},
        )
        runs.append(("Nelder-Mead + L-BFGS-B", res))
        if np.isfinite(res.fun) and (best is None or res.fun < best[1].fun):
            best = ("Nelder-Mead + L-BFGS-B", res)
    if best is None:
        k = len(starts[0])
        return MLEResult(
            np.exp(np.log(np.asarray(starts[0], dtype=np.float64))),
            -np.inf,
            np.full((k, k), np.nan),
            False,
            {"message": "the log-likelihood was not finite at any point tried", "n_evals": obj.n_evals},
        )
    method, res = best
    if not polish:
        k = len(res.x)
        return MLEResult(np.exp(res.x), -float(res.fun) * n_obs, np.full((k, k), np.nan), bool(res.success))
    u, f, newton_steps, hess = _newton_polish(obj, res.x, float(res.fun))
    g = obj.gradient(u)
    grad_max = float(np.max(np.abs(g)))
    if hess is None:
        hess = obj.hessian(u)
    at_bound = bool(np.any(np.abs(u) >= _BOUND - 1e-6))
    try:
        eigval = np.linalg.eigvalsh(hess)
        positive_definite = bool(eigval.min() > 0)
    except np.linalg.LinAlgError:
        eigval, positive_definite = np.full(len(u), np.nan), False
    if positive_definite:
        cov_log = np.linalg.inv(hess * n_obs)
        cov_log = (cov_log + cov_log.T) / 2.0
    else:
        cov_log = np.full(hess.shape, np.nan)
    converged = grad_max < _GRAD_TOL and positive_definite and not at_bound
    # a maximum at the boundary of the parameter space: the parameters at the bound are
    # answers (0 or infinity), the others have converged when their gradient is small and
    # their Hessian block positive definite; their covariance is that block's inverse
    boundary: list[tuple[int, str]] = []
    interior_converged = False
    if at_bound:
        boundary = [(int(i), "low" if u[i] < 0 else "high") for i in np.flatnonzero(np.abs(u) >= _BOUND - 1e-6)]
        free = np.ones(len(u), dtype=bool)
        free[[i for i, _ in boundary]] = False
        # at the bound the gradient may only point outwards (the optimum lies beyond the bound)
        outwards = all((g[i] <= _GRAD_TOL) if side == "high" else (g[i] >= -_GRAD_TOL) for i, side in boundary)
        block = hess[np.ix_(free, free)]
        try:
            block_pd = bool(free.any()) and bool(np.linalg.eigvalsh(block).min() > 0)
        except np.linalg.LinAlgError:
            block_pd = False
        free_grad = float(np.max(np.abs(g[free]))) if free.any() else 0.0
        interior_converged = bool(outwards and block_pd and free_grad < _GRAD_TOL)
        if interior_converged:
            cov_log = np.zeros_like(hess)
            inner = np.linalg.inv(block * n_obs)
            cov_log[np.ix_(free, free)] = (inner + inner.T) / 2.0
    theta = np.exp(u)
    total = -(obj.value(u) - penalty * float(np.sum(theta**2))) * n_obs  # unpenalised, from the cache
    problems = []
    if grad_max >= _GRAD_TOL:
        problems.append(f"the gradient is {grad_max:.2g} (tolerance {_GRAD_TOL:g})")
    if not positive_definite:
        problems.append("the Hessian is not positive definite (the likelihood is flat along some direction)")
    if at_bound:
        problems.append("a parameter went to 0 or infinity (exp(+-20) bound)")
    diagnostics = {
        "method": method,
        "message": str(res.message),
        "n_iter": int(res.nit),
        "n_evals": obj.n_evals,
        "newton_steps": newton_steps,
        "max_abs_gradient": grad_max,
        "hessian_eigenvalues": [float(v) for v in eigval],
        "at_bound": at_bound,
        "boundary": boundary,
        "interior_converged": interior_converged,
        "problems": problems,
        "runs": [(name, bool(r.success), float(r.fun)) for name, r in runs],
    }
    return MLEResult(theta, total, cov_log, converged, diagnostics)


def maximize_newton(
    loglik_grad_hess: Callable[[np.ndarray, bool], tuple[float, np.ndarray, np.ndarray | None]],
    u0: np.ndarray,
    *,
    n_obs: float,
    penalty: float = 0.0,
    n_penalised: int = 0,
    max_iter: int = 50,
    gtol: float = 1e-10,
) -> MLEResult | None:
    """Maximise a log-likelihood by Newton's method with its exact Hessian, in coordinates ``u``.

    For objectives whose Hessian costs about as much as the gradient (the covariate models,
    :class:`clvmodels.models.covariates.LinkedLoglik`): from a start near the maximum, a few
    Newton steps reach it to rounding error, where L-BFGS-B needs dozens of gradients and the
    finite-difference Hessian of the standard errors as many again. Steps are damped
    (Levenberg: ``H + lambda I`` until positive definite) and backtracked (Armijo) on the mean
    negative log-likelihood.

    Parameters
    ----------
    loglik_grad_hess : callable
        ``(u, hessian) -> (total log-likelihood, its gradient in u, its Hessian in u or None
        when hessian is False)``.
    u0 : ndarray
        Start.
    n_obs : float
        Number of customers (the objective is the mean, as in :func:`maximize_loglik`).
    penalty, n_penalised : float, int
        ``penalty * sum(exp(u[:n_penalised])**2)`` is added to the mean negative
        log-likelihood (``u[:n_penalised]`` are log-parameters; lifetimes' ``penalizer_coef``).
    max_iter : int
        Newton steps at most.
    gtol : float
        Stop when the largest gradient component of the mean objective is below this.

    Returns
    -------
    MLEResult or None
        ``params`` is ``exp(u)`` and ``covariance_log`` the covariance of ``u`` (the inverse of
        the Hessian of the negative penalised log-likelihood), as from :func:`maximize_loglik`;
        None when the steps stall, reach the bound ``|u| = 20`` or run out, so that the caller
        falls back to :func:`maximize_loglik`, which handles boundaries.

    Examples
    --------
    A normal mean and log standard deviation:

    >>> y = np.array([0.5, 1.5, 2.0, 4.0])
    >>> def f(u, hessian):
    ...     mu, s = u
    ...     z = (y - mu) * np.exp(-s)
    ...     grad = np.array([np.sum(z) * np.exp(-s), np.sum(z**2) - len(y)])
    ...     hess = np.array([[-len(y) * np.exp(-2 * s), -2 * np.sum(z) * np.exp(-s)],
    ...                      [-2 * np.sum(z) * np.exp(-s), -2 * np.sum(z**2)]]) if hessian else None
    ...     return float(-len(y) * s - 0.5 * np.sum(z**2)), grad, hess
    >>> result = maximize_newton(f, np.array([1.0, 0.0]), n_obs=4)
    >>> np.log(result.params).round(6), bool(np.isclose(np.exp(np.log(result.params)[1]), y.std()))
    (array([2.      , 0.242754]), True)
    """
    u = np.asarray(u0, dtype=np.float64).copy()
    k = len(u)
    n_evals = 0

    def evaluate(point: np.ndarray, hessian: bool) -> tuple[float, np.ndarray, np.ndarray | None]:
        nonlocal n_evals
        n_evals += 1
        with np.errstate(all="ignore"):
            ll, grad, hess = loglik_grad_hess(point, hessian)
        value = -ll / n_obs
        grad = -np.asarray(grad, dtype=np.float64) / n_obs
        hess = -np.asarray(hess, dtype=np.float64) / n_obs if hessian else None
        if penalty and n_penalised:
            theta2 = np.exp(2.0 * point[:n_penalised])
            value += penalty * float(np.sum(theta2))
            grad[:n_penalised] += 2.0 * penalty * theta2
            if hessian:
                hess[np.arange(n_penalised), np.arange(n_penalised)] += 4.0 * penalty * theta2
        finite = np.isfinite(value) and np.all(np.isfinite(grad)) and (hess is None or np.all(np.isfinite(hess)))
        return (float(value), grad, hess) if finite else (np.inf, grad, hess)

    f, g, hess = evaluate(u, True)
    if not np.isfinite(f):
        return None
    steps = damped = 0
    converged_steps = False
    for _ in range(max_iter):
        if np.max(np.abs(g)) < gtol:
            converged_steps = True
            break
        found = _damped_newton_direction(hess, g)
        if found is None:
            return None
        direction, was_damped = found
        damped += int(was_damped)
        if not was_damped and -0.5 * float(g @ direction) < 1e-15 * max(1.0, abs(f)):
            # the Newton decrement: the maximum is above this point by less than the rounding
            # error of the objective, so no evaluation could tell the step's end from here; its
            # end is nearer the maximum by the square of the step (quadratic convergence), and
            # the Hessian here is that of the end to the step's size (well below 1e-6)
            u = u + direction
            steps += 1
            converged_steps = True
            break
        # at most a factor e^5 on any parameter per step: a start far off cannot overflow
        direction *= min(1.0, 5.0 / max(float(np.max(np.abs(direction))), 1e-300))
        slope = float(g @ direction)
        noise = 64 * np.finfo(float).eps * max(1.0, abs(f))  # rounding error of the objective
        t = 1.0
        while True:
            candidate = u + t * direction
            if np.any(np.abs(candidate) >= _BOUND):
                return None
            if t == 1.0:  # the full step is usually taken: evaluate everything at once
                f_new, g_new, hess_new = evaluate(candidate, True)
            else:
                f_new, g_new, hess_new = evaluate(candidate, False)
            if f_new <= f + 1e-4 * t * slope + noise:
                break
            t /= 2.0
            if t < 1e-6:
                # no decrease along a descent direction: the start of rounding noise
                converged_steps = bool(np.max(np.abs(g)) < 1e3 * gtol)
                break
        if t < 1e-6:
            break
        if hess_new is None:
            f_new, g_new, hess_new = evaluate(candidate, True)
        moved = float(np.max(np.abs(candidate - u)))
        u, f, g, hess = candidate, f_new, g_new, hess_new
        steps += 1
        if moved < 1e-13:
            converged_steps = True
            break
    if not converged_steps and np.max(np.abs(g)) >= gtol:
        return None
    try:
        eigval = np.linalg.eigvalsh(hess)
    except np.linalg.LinAlgError:
        return None
    if not eigval.min() > FLAT * max(1.0, float(eigval.max())):
        # flat along some direction (a ridge to infinity, e.g. a covariate that separates
        # customers): no maximum to report; maximize_loglik's boundary handling says so
        return None
    cov_log = np.linalg.inv(hess * n_obs)
    cov_log = (cov_log + cov_log.T) / 2.0
    grad_max = float(np.max(np.abs(g)))
    theta = np.exp(u)
    total = -(f - penalty * float(np.sum(theta[:n_penalised] ** 2))) * n_obs  # unpenalised
    problems = [] if grad_max < _GRAD_TOL else [f"the gradient is {grad_max:.2g} (tolerance {_GRAD_TOL:g})"]
    diagnostics = {
        "method": "Newton (exact Hessian)",
        "message": "converged" if not problems else problems[0],
        "n_iter": steps,
        "n_evals": n_evals,
        "newton_steps": steps,
        "damped_steps": damped,
        "max_abs_gradient": grad_max,
        "hessian_eigenvalues": [float(v) for v in eigval],
        "at_bound": False,
        "boundary": [],
        "interior_converged": False,
        "problems": problems,
        "runs": [("Newton", not problems, f)],
    }
    return MLEResult(theta, total, cov_log, not problems, diagnostics)


def _damped_newton_direction(hess: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, bool] | None:
    """``-(H + lambda I)^-1 g`` with the smallest ``lambda`` in 0, 1e-8 s, 1e-7 s, ... (``s`` the
    largest diagonal entry) that makes the matrix positive definite; and whether it was damped."""
    scale = max(float(np.max(np.abs(np.diag(hess)))), 1e-300)
    for lam in (0.0, *(scale * 10.0**p for p in range(-8, 3))):
        try:
            factor = np.linalg.cholesky(hess + lam * np.eye(len(g)))
        except np.linalg.LinAlgError:
            continue
        y = np.linalg.solve(factor, -g)
        return np.linalg.solve(factor.T, y), lam > 0
    return None
