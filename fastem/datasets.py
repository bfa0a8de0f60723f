"""Bundled data sets."""

from importlib import resources

import numpy as np


def load_old_faithful():
    """The Old Faithful geyser data.

    Returns
    -------
    X : ndarray of shape (272, 2)
        Eruption duration (minutes) and waiting time to the next eruption (minutes).

    Examples
    --------
    >>> from fastem import load_old_faithful
    >>> load_old_faithful().shape
    (272, 2)
    """
    path = resources.files("fastem") / "data" / "old_faithful.csv"
    with path.open("r") as f:
        return np.loadtxt(f, delimiter=",", skiprows=1)
