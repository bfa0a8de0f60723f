"""The initialization of a fit on a Dask array: the in-memory one, block by block.

Up to :data:`fastem.dask.INIT_SAMPLE_ROWS` rows the client's initialization
sample is every row, so the start is the in-memory one already. With more rows,
a fit used to initialize on a random sample of that size, and so ended
elsewhere than the in-memory fit of the same rows. Here, as for a chunked
source (:mod:`fastem._stream_init`), it starts where the in-memory fit starts,
from the same random numbers (same ``random_state``):

* ``'kmeans'`` and ``'k-means++'``: the same :data:`~fastem._init.KMEANS_MAX_ROWS`
  rows, taken from their blocks by tasks and gathered on the client, seeded (and
  for ``'kmeans'`` refined by Lloyd) there; each block's statistics of the
  assignment of its rows to the centres are computed on the workers and added
  in the tree of the EM pass;
* ``'random_from_data'``: the rows the in-memory draw picks;
* ``'random'``: each row's responsibilities come from one stream of random
  numbers, so the blocks come to the client one after the other, in order.

``'hc'`` (mclust's start) still runs on the client sample.
"""

import dask

from ._init import _labels_stats, lloyd
from ._stream_init import exact_start


def _block_assigned_stats(X, w, centers, covariance_type):
    """Statistics of the hard assignment of one block's rows to ``centers`` (one thread)."""
    _, labels = lloyd(X, w, centers, 1, max_iter=0)
    return _labels_stats(X, w, labels, centers, covariance_type, n_threads=1)


def dask_initial_stats(data, est, rng, method, covariance_type):
    """``(stats, sample)`` for the initial M-step of ``est`` on ``data``, or None.

    As :func:`fastem._stream_init.stream_initial_stats`; None (the caller uses
    the client sample) when that sample is every row, or for an ``'hc'`` start on more
    rows than k-means holds.
    """
    from .dask import INIT_SAMPLE_ROWS

    n, cov = data.n_samples, covariance_type
    if n <= INIT_SAMPLE_ROWS:
        return None
    return exact_start(
        data, est, rng, method, cov,
        every_row=lambda: data.sample_for_init(n, None),  # (a lowered INIT_SAMPLE_ROWS)
        rows=data.rows_at,
        seed_rows=lambda index: data.rows_at(index).X,
        assigned=lambda centers: _assigned_stats(data, centers, cov),
        in_order=data,
    )  # fmt: skip


def _assigned_stats(data, centers, covariance_type):
    """Statistics of every row assigned to its nearest centre, block by block on the workers."""
    from .dask import _tree_sum

    assign = dask.delayed(_block_assigned_stats, pure=True)
    parts = [assign(x, w, centers, covariance_type) for x, w in data._blocks()]
    (stats,) = dask.compute(_tree_sum(parts))
    return stats
