"""Plots: component ellipses, BIC/AIC curves over K, and an animation of EM.

matplotlib is an optional dependency (``pip install "fastem[plot]"``). This
module imports without it; each function imports matplotlib when called and
says how to install it if it is missing.
"""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np

from ._models import layout

_COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def _matplotlib():
    try:
        import matplotlib
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "fastem's plots need matplotlib, which is not installed; install the 'plot' "
            "extra: pip install 'fastem[plot]'"
        ) from None
    return matplotlib, plt


def _color(k):
    return _COLORS[k % len(_COLORS)]


def component_covariances(model, dims=(0, 1)):
    """Every component's full covariance matrix restricted to two features.

    Works for every covariance type: ``tied`` repeats the shared matrix,
    ``diag`` and ``spherical`` become diagonal matrices.

    Parameters
    ----------
    model : GaussianMixture
        A fitted model.
    dims : tuple of two int, default=(0, 1)
        The features to keep.

    Returns
    -------
    covariances : ndarray of shape (n_components, 2, 2)

    Examples
    --------
    >>> import fastem
    >>> X = fastem.load_old_faithful()
    >>> gm = fastem.GaussianMixture(2, covariance_type="spherical", random_state=0).fit(X)
    >>> component_covariances(gm).shape
    (2, 2, 2)
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    K, D = np.shape(model.means_)  # the fitted components (a pruned model keeps fewer)
    dims = _check_dims(dims, D)
    cov = np.asarray(model.covariances_)
    ct = layout(model.covariance_type)
    if ct == "full":
        full = cov
    elif ct == "tied":
        full = np.broadcast_to(cov, (K, D, D))
    elif ct == "diag":
        full = np.stack([np.diag(c) for c in cov])
    else:
        full = cov[:, None, None] * np.eye(D)
    idx = np.asarray(dims)
    return np.ascontiguousarray(full[:, idx[:, None], idx[None, :]])


def _check_dims(dims, n_features):
    """``dims`` as two valid feature indices, or a ValueError that says what is wrong."""
    from ._validation import _is_int

    dims = tuple(dims)
    ok = len(dims) == 2 and all(_is_int(d) and -n_features <= d < n_features for d in dims)
    if ok and dims[0] % n_features == dims[1] % n_features:
        raise ValueError(f"dims must be two different features, got {dims!r}.")
    if not ok:
        raise ValueError(
            f"dims must be two feature indices in [-{n_features}, {n_features}), got {dims!r}"
            + ("; an ellipse needs two features, and the model has one." if n_features < 2 else ".")
        )
    return dims


def _check_ellipse_args(n_std, feature_names):
    """``n_std`` as a tuple of positive finite radii (a number is one radius), and
    ``feature_names`` as two labels, or ValueErrors that say what is wrong."""
    if isinstance(n_std, numbers.Real):
        radii = (n_std,)
    else:
        try:
            radii = () if isinstance(n_std, str) else tuple(n_std)
        except TypeError:
            radii = ()
    number = lambda r: isinstance(r, numbers.Real) and not isinstance(r, (bool, np.bool_))  # noqa: E731
    radii = tuple(float(r) for r in radii) if all(map(number, radii)) else ()
    if not radii or not all(np.isfinite(r) and r > 0 for r in radii):
        raise ValueError(
            f"n_std must be a positive number or a sequence of them (radii in standard "
            f"deviations), got {n_std!r}."
        )
    if feature_names is not None and (isinstance(feature_names, str) or len(feature_names) != 2):
        raise ValueError(f"feature_names must be the two axis labels, got {feature_names!r}.")
    return radii


def _ellipse_patches(mean, cov, n_std, color, alpha):
    from matplotlib.patches import Ellipse

    vals, vecs = np.linalg.eigh(cov)
    vals = np.maximum(vals, 0.0)
    angle = np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1]))
    patches = []
    for s in n_std:
        patches.append(
            Ellipse(
                xy=mean,
                width=2 * s * np.sqrt(vals[1]),
                height=2 * s * np.sqrt(vals[0]),
                angle=angle,
                facecolor=color,
                edgecolor=color,
                alpha=alpha,
                lw=1.5,
            )
        )
    return patches


def plot_ellipses(
    model,
    X=None,
    *,
    ax=None,
    dims=(0, 1),
    n_std=(1.0, 2.0),
    alpha=0.2,
    feature_names=None,
    title=None,
):
    """Draw every component as ellipses over (optionally) the data.

    Each component is drawn as filled ellipses at ``n_std`` standard deviations
    around its mean, for any covariance type; points of ``X`` are coloured by
    their most probable component.

    Parameters
    ----------
    model : GaussianMixture
        A fitted model.
    X : array-like of shape (n_samples, n_features), default=None
        Data to scatter under the ellipses.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; a new figure by default.
    dims : tuple of two int, default=(0, 1)
        The two features to show.
    n_std : float or sequence of float, default=(1.0, 2.0)
        Radii of the ellipses in standard deviations (positive).
    alpha : float, default=0.2
        Opacity of the ellipses.
    feature_names : sequence of two str, default=None
        Axis labels.
    title : str, default=None
        Axes title; a description of the model by default.

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import fastem
    >>> from fastem.plots import plot_ellipses
    >>> X = fastem.load_old_faithful()
    >>> gm = fastem.GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    >>> ax = plot_ellipses(gm, X, feature_names=("eruption (min)", "waiting (min)"))
    >>> len(ax.patches)
    4
    """
    _, plt = _matplotlib()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    covs = component_covariances(model, dims)  # checks the model and dims first
    n_std = _check_ellipse_args(n_std, feature_names)
    dims = tuple(dims)
    if X is not None:
        labels = model.predict(X)  # (a frame keeps its names for the model's check)
        X = np.asarray(X)
        colors = [_color(k) for k in labels]
        ax.scatter(X[:, dims[0]], X[:, dims[1]], c=colors, s=10, alpha=0.7, linewidths=0)
    means = np.asarray(model.means_)[:, dims]
    for k in range(means.shape[0]):
        for patch in _ellipse_patches(means[k], covs[k], n_std, _color(k), alpha):
            ax.add_patch(patch)
        ax.plot(*means[k], marker="x", color="black", ms=7, mew=2)
    if X is None:
        ax.autoscale_view()
        span = np.sqrt(np.concatenate([covs[:, 0, 0], covs[:, 1, 1]]).max()) * max(n_std)
        ax.set_xlim(means[:, 0].min() - span, means[:, 0].max() + span)
        ax.set_ylim(means[:, 1].min() - span, means[:, 1].max() + span)
    if feature_names is not None:
        ax.set_xlabel(feature_names[0])
        ax.set_ylabel(feature_names[1])
    ax.set_title(
        title
        if title is not None
        else f"{model.n_components} components, covariance_type={model.covariance_type!r}"
    )
    return ax


def plot_criterion(table, criterion=("bic", "aic"), *, ax=None, mclust_sign: bool = False):
    """Plot BIC and/or AIC against the number of components, one line per covariance type.

    The lowest point of each criterion is circled. With ``mclust_sign=True``
    the criteria are negated (``2 logL - p log n``, higher is better) and the
    highest point is circled: the picture of mclust's ``plot(mclustBIC(...))``.

    Parameters
    ----------
    table : dict of str to array or Selection
        The ``table`` returned by :func:`fastem.select_components`, or the
        whole result.
    criterion : str or sequence of str, default=('bic', 'aic')
        Which criteria to draw: ``'bic'``, ``'aic'``, ``'icl'``.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; a new figure by default.
    mclust_sign : bool, default=False
        Draw mclust's sign (higher is better) instead of scikit-learn's.

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import fastem
    >>> from fastem.plots import plot_criterion
    >>> X = fastem.load_old_faithful()
    >>> result = fastem.select_components(X, range(1, 4), ("full", "diag"), random_state=0)
    >>> ax = plot_criterion(result)
    >>> len(ax.get_lines())  # 2 criteria x 2 covariance types, and 2 circles
    6
    """
    _, plt = _matplotlib()
    if hasattr(table, "table"):
        table = table.table
    criteria = (criterion,) if isinstance(criterion, str) else tuple(criterion)
    bad = [c for c in criteria if c not in ("bic", "aic", "icl")]
    if bad or not criteria:
        raise ValueError(
            f"criterion must be 'bic', 'aic', 'icl' or a list of them, got {criterion!r}."
        )
    missing = [c for c in ("n_components", "covariance_type", *criteria) if c not in table]
    if missing:
        raise ValueError(
            f"table has no column {missing[0]!r}; pass the table (or the whole result) of "
            "fastem.select_components."
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    ks = np.asarray(table["n_components"])
    types = list(dict.fromkeys(np.asarray(table["covariance_type"]).tolist()))
    styles = {"bic": "-", "aic": "--", "icl": ":"}
    sign = -1.0 if mclust_sign else 1.0
    for c in criteria:
        values = sign * np.asarray(table[c], dtype=float)
        for j, ct in enumerate(types):
            sel = np.asarray(table["covariance_type"]) == ct
            order = np.argsort(ks[sel])
            ax.plot(
                ks[sel][order],
                values[sel][order],
                styles.get(c, "-"),
                marker="o",
                ms=4,
                color=_color(j),
                label=f"{c.upper()} {ct}",
            )
        if not np.all(np.isnan(values)):
            best = int(np.nanargmax(values) if mclust_sign else np.nanargmin(values))
            ax.plot(ks[best], values[best], "o", ms=14, mfc="none", mec="black", mew=1.5)
    ax.set_xlabel("number of components K")
    better = "higher (mclust's sign)" if mclust_sign else "lower"
    ax.set_ylabel(" / ".join(c.upper() for c in criteria) + f" ({better} is better)")
    ax.set_xticks(np.unique(ks))
    ax.legend(fontsize="small", ncol=2)
    return ax


def em_frames(
    X,
    n_components=2,
    *,
    covariance_type="full",
    max_frames=40,
    tol=1e-6,
    means_init=None,
    random_state=0,
):
    """Fitted models after each EM iteration, starting from the initial parameters.

    EM starts from deliberately naive parameters (unless ``means_init`` is
    given: means at randomly chosen rows, every covariance equal to the
    covariance of the whole data, equal weights) so the frames show it at work.
    Each step is one E-step and one M-step, run through the estimator's
    ``warm_start`` with ``max_iter=1``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_components : int, default=2
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    max_frames : int, default=40
        At most this many iterations after the initial frame.
    tol : float, default=1e-6
        Stop once the mean log-likelihood changes by less than this.
    means_init : array-like of shape (n_components, n_features), default=None
        Where EM starts.
    random_state : int, default=0
        Picks the initial means when ``means_init`` is None.

    Returns
    -------
    frames : list of GaussianMixture
        Frame 0 holds the initial parameters (``n_iter_ == 0``).

    Examples
    --------
    >>> import fastem
    >>> from fastem.plots import em_frames
    >>> frames = em_frames(fastem.load_old_faithful(), max_frames=5)
    >>> [f.n_iter_ for f in frames]
    [0, 1, 2, 3, 4, 5]
    """
    from sklearn.exceptions import ConvergenceWarning

    from ._validation import _is_int, precheck_array
    from .mixture import GaussianMixture

    precheck_array(X)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}.")
    n, D = X.shape
    K = n_components
    if not _is_int(K) or not 1 <= K <= n:
        raise ValueError(f"n_components must be an integer in [1, n_samples={n}], got {K!r}.")
    if covariance_type not in ("full", "tied", "diag", "spherical"):
        raise ValueError(
            "covariance_type must be 'full', 'tied', 'diag' or 'spherical' for em_frames, got "
            f"{covariance_type!r}."
        )
    rng = np.random.RandomState(random_state)
    if means_init is None:
        means_init = X[rng.choice(n, size=K, replace=False)]
    cov = np.atleast_2d(np.cov(X, rowvar=False))
    prec = np.linalg.inv(cov)
    precisions_init = {
        "full": np.broadcast_to(prec, (K, D, D)).copy(),
        "tied": prec,
        "diag": np.broadcast_to(1.0 / np.diag(cov), (K, D)).copy(),
        "spherical": np.full(K, 1.0 / np.mean(np.diag(cov))),
    }[covariance_type]
    gm = GaussianMixture(
        K,
        covariance_type=covariance_type,
        max_iter=0,
        warm_start=True,
        tol=tol,
        weights_init=np.full(K, 1.0 / K),
        means_init=np.asarray(means_init, dtype=np.float64),
        precisions_init=precisions_init,
        random_state=random_state,
    )
    gm.fit(X)
    frames = [copy.deepcopy(gm)]
    gm.max_iter = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for i in range(1, max_frames + 1):
            gm.fit(X)
            gm.n_iter_ = i
            frames.append(copy.deepcopy(gm))
            if gm.converged_:
                break
    return frames


def animate_em(
    X=None,
    path=None,
    *,
    n_components=2,
    covariance_type="full",
    max_frames=40,
    tol=1e-6,
    means_init=None,
    random_state=0,
    fps=3,
    dpi=80,
    feature_names=("eruption duration (min)", "waiting time (min)"),
):
    """Animate EM iteration by iteration and optionally save it as a GIF.

    Every frame shows the first two features of the data coloured by the
    responsibilities (a point's colour mixes the colours of the components in
    proportion to how much it belongs to each) and the components as 1- and
    2-standard-deviation ellipses, with the iteration number and the mean
    log-likelihood.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), default=None
        The data; Old Faithful by default.
    path : str, default=None
        Save the animation here as a GIF (through Pillow).
    n_components : int, default=2
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    max_frames : int, default=40
        At most this many EM iterations.
    tol : float, default=1e-6
        Stop once the mean log-likelihood changes by less than this.
    means_init : array-like of shape (n_components, n_features), default=None
        Where EM starts; see :func:`em_frames`.
    random_state : int, default=0
    fps : float, default=3
        Frames per second of the GIF.
    dpi : int, default=80
        Resolution of the GIF.
    feature_names : sequence of str
        Axis labels.

    Returns
    -------
    animation : matplotlib.animation.FuncAnimation

    Examples
    --------
    >>> import os, tempfile
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from fastem.plots import animate_em
    >>> path = os.path.join(tempfile.mkdtemp(), "em.gif")
    >>> anim = animate_em(path=path, max_frames=3, dpi=40)
    >>> open(path, "rb").read(6)
    b'GIF89a'
    """
    matplotlib, plt = _matplotlib()
    from matplotlib.animation import FuncAnimation, PillowWriter

    if X is None:
        from .datasets import load_old_faithful

        X = load_old_faithful()
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 2 and X.shape[1] < 2:  # (em_frames says what else is wrong with X)
        raise ValueError(
            f"animate_em draws the first two features, and X has {X.shape[1]}; pass at least "
            "two features."
        )
    frames = em_frames(
        X,
        n_components,
        covariance_type=covariance_type,
        max_frames=max_frames,
        tol=tol,
        means_init=means_init,
        random_state=random_state,
    )
    rgb = np.array([matplotlib.colors.to_rgb(_color(k)) for k in range(n_components)])
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    pad = 0.08 * (X.max(axis=0) - X.min(axis=0))
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad

    def draw(i):
        ax.clear()
        gm = frames[i]
        resp = gm.predict_proba(X)
        ax.scatter(X[:, 0], X[:, 1], c=np.clip(resp @ rgb, 0, 1), s=12, linewidths=0)
        covs = component_covariances(gm)
        for k in range(n_components):
            for patch in _ellipse_patches(gm.means_[k, :2], covs[k], (1.0, 2.0), _color(k), 0.15):
                ax.add_patch(patch)
            ax.plot(*gm.means_[k, :2], marker="x", color="black", ms=8, mew=2)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        if feature_names is not None:
            ax.set_xlabel(feature_names[0])
            ax.set_ylabel(feature_names[1])
        ll = gm.score(X)
        ax.set_title(
            "initial guess" if i == 0 else f"EM iteration {i}", loc="left", fontsize="medium"
        )
        ax.set_title(f"log-likelihood/row {ll:.4f}", loc="right", fontsize="small")
        return ()

    anim = FuncAnimation(fig, draw, frames=len(frames), interval=1000 / fps, blit=False)
    if path is not None:
        anim.save(path, writer=PillowWriter(fps=fps), dpi=dpi)
    plt.close(fig)
    return anim
