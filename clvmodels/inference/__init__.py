"""Inference back-ends: maximum likelihood (``mle``) and Bayesian inference with PyMC (``bayes``,
with the compiled log-posterior kernels of ``kernels``); PyMC and numba load on first use."""
