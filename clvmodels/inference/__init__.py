"""Inference back-ends: maximum likelihood (``mle``); Bayesian inference comes later."""
