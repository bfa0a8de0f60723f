"""The one EM loop (``fastem._em_loop._EMLoop._em``) that both estimators run.

GaussianMixture and BayesianGaussianMixture differ only in their hooks (the
pass's parameters, the M-step and the bound); what the loop shows a user must
be the same for both and the same as scikit-learn's: the progress lines, the
convergence rule, the error on a pass with -inf log-likelihood (worded with
each estimator's bound).
"""

import re
import warnings

import numpy as np
import pytest
from sklearn.mixture import BayesianGaussianMixture as SkBGM
from sklearn.mixture import GaussianMixture as SkGM

from fastem import BayesianGaussianMixture, GaussianMixture

from .conftest import blobs

PAIRS = [(GaussianMixture, SkGM), (BayesianGaussianMixture, SkBGM)]
_FLOAT = re.compile(r"-?\d+\.\d+")


def _progress(estimator, X, capsys, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator(**kw).fit(X)
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("verbose", [1, 2])
@pytest.mark.parametrize("ours, theirs", PAIRS, ids=["gmm", "bgm"])
def test_progress_lines_are_scikit_learns(ours, theirs, verbose, capsys):
    """Same lines as scikit-learn's for the same fit (``random_from_data`` draws the same
    start from the same seed); with verbose=2 the changes and bounds agree, times aside."""
    X = blobs(900, 2, 3, seed=2)
    kw = dict(n_components=3, init_params="random_from_data", random_state=0, n_init=2)
    kw.update(tol=0.0, max_iter=25, verbose=verbose, verbose_interval=10)
    a, b = _progress(ours, X, capsys, **kw), _progress(theirs, X, capsys, **kw)
    assert [_FLOAT.sub("#", line) for line in a] == [_FLOAT.sub("#", line) for line in b]
    assert len(a) == 2 * 4  # per start: its header, iterations 10 and 20, its end
    if verbose == 2:
        # the time lapses vary; the other numbers are the change and the bound
        def numbers(lines):
            return [float(x) for line in lines for x in _FLOAT.findall(line)[1:]]

        np.testing.assert_allclose(numbers(a), numbers(b), rtol=1e-6, atol=2e-5)


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=["gmm", "bgm"])
def test_convergence_rule_is_scikit_learns(ours, theirs):
    """Converged once a change of the bound is below tol: the same iteration count."""
    X = blobs(900, 2, 3, seed=2)
    kw = dict(n_components=3, init_params="random_from_data", random_state=0, tol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = ours(**kw).fit(X), theirs(**kw).fit(X)
    assert a.converged_ and b.converged_
    assert a.n_iter_ == b.n_iter_ > 2
    assert len(a.lower_bounds_) == a.n_iter_
    assert abs(a.lower_bounds_[-1] - a.lower_bounds_[-2]) < 1e-4


def test_a_minus_inf_pass_names_each_estimators_bound():
    """A row at 1e150 against precisions of about 1e12: its density is 0 under every component."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    Y = X.copy()
    Y[0] = 1e150
    with pytest.raises(ValueError, match=r"zero density under every component \(log-likel"):
        GaussianMixture(
            2,
            covariance_type="spherical",
            means_init=[[0, 0], [1, 1]],
            precisions_init=[1e10, 1e10],
        ).fit(Y)
    kw = dict(n_components=2, covariance_type="spherical", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = BayesianGaussianMixture(**kw, max_iter=2, reg_covar=0.0).fit(X * 1e-6)
    with pytest.raises(ValueError, match=r"zero density under every component \(the lower bound"):
        BayesianGaussianMixture(**kw).fit(Y, init_from=start)
