"""Plots: every covariance type, the criterion curve, the EM animation, no-matplotlib import."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastem

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from fastem import plots  # noqa: E402

X = fastem.load_old_faithful()


@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical"])
def test_ellipses_every_covariance_type(ct):
    gm = fastem.GaussianMixture(2, covariance_type=ct, random_state=0).fit(X)
    covs = plots.component_covariances(gm)
    assert covs.shape == (2, 2, 2)
    assert np.allclose(covs, covs.transpose(0, 2, 1))
    ax = plots.plot_ellipses(gm, X)
    assert len(ax.patches) == 4
    ax = plots.plot_ellipses(gm)  # without data
    assert len(ax.patches) == 4
    matplotlib.pyplot.close("all")


def test_criterion_curve(tmp_path):
    result = fastem.select_components(X, [1, 2], ("full", "spherical"), random_state=0)
    ax = plots.plot_criterion(result.table, criterion="bic")
    ax.figure.savefig(tmp_path / "bic.png")
    assert (tmp_path / "bic.png").stat().st_size > 0
    matplotlib.pyplot.close("all")


def test_em_frames_increase_likelihood():
    frames = plots.em_frames(X, max_frames=8)
    ll = [f.score(X) for f in frames]
    assert frames[0].n_iter_ == 0
    assert all(b >= a - 1e-9 for a, b in zip(ll, ll[1:], strict=False))


def test_animation_gif(tmp_path):
    path = tmp_path / "em.gif"
    plots.animate_em(path=str(path), max_frames=2, dpi=30)
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == 3


def test_import_without_matplotlib():
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import fastem.plots as p\n"
        "try:\n"
        "    p.plot_ellipses(None)\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "'plot' extra" in out and "pip install" in out


def test_plot_ellipses_arguments_get_clear_errors():
    """n_std=2 failed with "'int' object is not iterable", n_std='a' with a str product,
    negative or NaN radii drew nothing silently, one feature name raised IndexError, and
    dims=(0, 0) drew a degenerate ellipse."""
    X = fastem.load_old_faithful()
    gm = fastem.GaussianMixture(2, random_state=0).fit(X)
    assert len(plots.plot_ellipses(gm, n_std=2).patches) == 2  # a number is one radius
    assert len(plots.plot_ellipses(gm, n_std=[1, 2.5, 3]).patches) == 6
    for bad in ("a", (-1.0,), (float("nan"),), (), True, (1, "2")):
        with pytest.raises(ValueError, match="n_std must be a positive number"):
            plots.plot_ellipses(gm, n_std=bad)
    for names in (["only one"], "ab", ["a", "b", "c"]):
        with pytest.raises(ValueError, match="feature_names must be the two axis labels"):
            plots.plot_ellipses(gm, feature_names=names)
    for dims in ((0, 0), (-1, 1)):
        with pytest.raises(ValueError, match="dims must be two different features"):
            plots.plot_ellipses(gm, dims=dims)
    plt = pytest.importorskip("matplotlib.pyplot")
    plt.close("all")


def _reference_covariance(model, k):
    """Component k's full D x D covariance, expanded from ``covariances_`` by hand."""
    cov = np.asarray(model.covariances_, dtype=np.float64)
    kind = fastem._models.layout(model.covariance_type)
    D = model.means_.shape[1]
    return {
        "full": lambda: cov[k],
        "tied": lambda: cov,
        "diag": lambda: np.diag(cov[k]),
        "spherical": lambda: cov[k] * np.eye(D),
    }[kind]()


@pytest.mark.parametrize(
    "make",
    [
        *(lambda ct=ct: fastem.GaussianMixture(2, covariance_type=ct, random_state=0) for ct in
          ("full", "tied", "diag", "spherical", "VEV", "EEI")),
        lambda: fastem.BayesianGaussianMixture(n_components=3, random_state=0),
        lambda: fastem.BayesianGaussianMixture(
            n_components=3, covariance_type="diag", random_state=0),
    ],
)  # fmt: skip
@pytest.mark.parametrize("dims", [(0, 1), (2, 0)])
def test_ellipses_are_the_components_contours(make, dims):
    """Every point of a drawn ellipse lies at exactly n_std Mahalanobis radii from its mean
    under the component's covariance on those two features (the marginal of the model's
    covariance, expanded here from ``covariances_``): the ellipses were checked only for
    their number, so swapped axes or a wrong angle drew unnoticed."""
    rng = np.random.default_rng(3)
    a = rng.multivariate_normal([0, 0, 0], [[2, 1.2, 0.3], [1.2, 2, 0.2], [0.3, 0.2, 1]], 150)
    b = rng.multivariate_normal([6, 5, 2], [[1, -0.5, 0], [-0.5, 3, 0.4], [0, 0.4, 2]], 150)
    X3 = np.concatenate([a, b])
    for dtype in (np.float64, np.float32):
        gm = make().fit(X3.astype(dtype))
        ax = plots.plot_ellipses(gm, X3.astype(dtype), dims=dims, n_std=(1.0, 2.5))
        K = gm.means_.shape[0]
        assert len(ax.patches) == 2 * K
        t = np.linspace(0, 2 * np.pi, 17)
        unit = np.c_[np.cos(t), np.sin(t)]
        for i, patch in enumerate(ax.patches):
            k, radius = i // 2, (1.0, 2.5)[i % 2]
            idx = np.asarray(dims)
            cov = _reference_covariance(gm, k)[idx[:, None], idx[None, :]]
            mean = np.asarray(gm.means_, dtype=np.float64)[k, idx]
            d = patch.get_patch_transform().transform(unit) - mean
            dist = np.sqrt(np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d))
            np.testing.assert_allclose(dist, radius, rtol=1e-6 if dtype == np.float64 else 1e-5)
        matplotlib.pyplot.close("all")


@pytest.mark.parametrize("mclust_sign", [False, True])
def test_criterion_curves_hold_the_table_and_circle_its_best(mclust_sign):
    """Each curve is the table's column for one covariance type (negated in mclust's sign),
    and each criterion's circle is the row select_components would choose (its minimum)."""
    result = fastem.select_components(X, [1, 2, 3], ("full", "diag", "EEE"), random_state=0)
    table = result.table
    sign = -1.0 if mclust_sign else 1.0
    ax = plots.plot_criterion(result, criterion=("bic", "aic"), mclust_sign=mclust_sign)
    curves = [ln for ln in ax.get_lines() if ln.get_markersize() == 4]
    circles = [ln for ln in ax.get_lines() if ln.get_markersize() == 14]
    assert len(curves) == 6 and len(circles) == 2
    for c, circle in zip(("bic", "aic"), circles):
        best = int(np.argmin(table[c]))
        assert circle.get_xdata()[0] == table["n_components"][best]
        assert circle.get_ydata()[0] == sign * table[c][best]
        for ct in ("full", "diag", "EEE"):
            (curve,) = [ln for ln in curves if ln.get_label() == f"{c.upper()} {ct}"]
            sel = table["covariance_type"] == ct
            np.testing.assert_array_equal(curve.get_xdata(), table["n_components"][sel])
            np.testing.assert_array_equal(curve.get_ydata(), sign * table[c][sel])
    matplotlib.pyplot.close("all")


@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical"])
def test_em_frames_are_scikit_learns_em_from_the_documented_start(ct):
    """old_faithful.md: EM starts "from a deliberately naive guess (means at two random
    eruptions, each covariance equal to that of the whole data set)", and each frame is one
    more iteration: frame i is scikit-learn's fit of max_iter=i from that start. The frames
    were checked only for a rising likelihood."""
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    frames = plots.em_frames(X, covariance_type=ct, random_state=3, max_frames=5)
    first = frames[0]
    assert all(any(np.array_equal(m, x) for x in X) for m in first.means_)  # two eruptions
    np.testing.assert_array_equal(first.weights_, [0.5, 0.5])
    cov = np.cov(X, rowvar=False)  # that of the whole data set, in each covariance type
    expected = {
        "full": np.stack([cov, cov]),
        "tied": cov,
        "diag": np.stack([np.diag(cov)] * 2),
        "spherical": np.full(2, np.diag(cov).mean()),
    }[ct]
    np.testing.assert_allclose(first.covariances_, expected, rtol=1e-12)
    precisions = np.linalg.inv(expected) if ct in ("full", "tied") else 1 / expected
    for i in (1, 2, 5):
        sk = SkGaussianMixture(
            2,
            covariance_type=ct,
            max_iter=i,
            tol=0,
            weights_init=[0.5, 0.5],
            means_init=first.means_,
            precisions_init=precisions,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk.fit(X)
        np.testing.assert_allclose(frames[i].means_, sk.means_, rtol=1e-10)
        np.testing.assert_allclose(frames[i].covariances_, sk.covariances_, rtol=1e-9)
        assert frames[i].n_iter_ == i


def test_animate_em_of_one_feature_is_refused_clearly(tmp_path):
    """animate_em draws the first two features: X of one feature failed inside matplotlib's
    writer with "IndexError: list index out of range", after fitting every frame."""
    with pytest.raises(ValueError, match="draws the first two features, and X has 1"):
        plots.animate_em(X[:, :1], path=str(tmp_path / "em.gif"), max_frames=2)
    assert not (tmp_path / "em.gif").exists()
    matplotlib.pyplot.close("all")


def test_plot_ellipses_of_the_frame_a_model_was_fitted_on():
    """plot_ellipses(model, frame) made an array of the frame before predicting its labels,
    so a model fitted on that pandas frame warned "X does not have valid feature names";
    the frame's columns in another order are refused (scikit-learn's rule), not drawn."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["eruptions", "waiting"])
    gm = fastem.GaussianMixture(2, random_state=0).fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = plots.plot_ellipses(gm, frame)
    assert len(ax.patches) == 4
    with pytest.raises(ValueError, match="feature names"):
        plots.plot_ellipses(gm, frame[["waiting", "eruptions"]])
    matplotlib.pyplot.close("all")
