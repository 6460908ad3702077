"""Data files shipped inside the clvmodels wheel (see ``clvmodels.datasets``).

This folder sits at the repository's top level as ``data/`` and is installed as the
package ``clvmodels._data`` so that the loaders work from an installed wheel.

Sources:

- ``CDNOW_sample.txt``, ``CDNOW_master.txt``, ``donations.csv``: the files distributed with the
  original papers (and the ``lifetimes`` package); see ``clvmodels.datasets``.
- ``apparel/apparel_transactions.csv`` (``Id, Date, Price``) and ``apparel/apparel_static_covariates.csv``
  (``Id, Gender, Channel``, 0/1 codes): the simulated apparel retailer data of the R package
  CLVTools (``apparelTrans``, ``apparelStaticCov``, release 0.12.1, by P. Bachmann, N. Kuebler,
  M. Meierer, J. Naef, E. S. Oblander and P. Schilter, https://github.com/bachmannpatrick/CLVTools,
  licensed GPL-3), converted to CSV. Being GPL-3, they stay in the source tree and are left out
  of the (Apache-2.0) wheel: ``clvmodels.datasets.load_apparel`` loads them from a source checkout.
"""
