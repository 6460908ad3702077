"""Data files shipped inside the clvmodels wheel (see ``clvmodels.datasets``).

This folder sits at the repository's top level as ``data/`` and is installed as the
package ``clvmodels._data`` so that the loaders work from an installed wheel.
"""
