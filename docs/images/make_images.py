"""Regenerate the documentation images: ``python docs/images/make_images.py``."""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import fastem  # noqa: E402
from fastem.plots import animate_em, plot_criterion, plot_ellipses  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = ("eruption duration (min)", "waiting time (min)")


def main():
    X = fastem.load_old_faithful()
    fig, axes = plt.subplots(2, 2, figsize=(10, 8))
    for ax, ct in zip(axes.flat, ("full", "tied", "diag", "spherical"), strict=True):
        gm = fastem.GaussianMixture(2, covariance_type=ct, random_state=0).fit(X)
        plot_ellipses(gm, X, ax=ax, feature_names=NAMES, title=f"covariance_type={ct!r}")
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "faithful_ellipses.png"), dpi=70)
    plt.close(fig)

    result = fastem.select_components(X, n_components=range(1, 8), random_state=0)
    ax = plot_criterion(result, criterion="bic")
    ax.set_title("Old Faithful: BIC over K")
    ax.figure.tight_layout()
    ax.figure.savefig(os.path.join(HERE, "faithful_bic.png"), dpi=70)
    plt.close(ax.figure)

    animate_em(
        X, path=os.path.join(HERE, "faithful_em.gif"), max_frames=30, fps=3, dpi=60, random_state=3
    )


if __name__ == "__main__":
    main()
