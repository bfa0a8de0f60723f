"""The score table of :func:`~fastem.select.select_components` as text.

:func:`format_table` prints it as the command line's ``fastem select`` does (one row per fit,
the best starred); :func:`format_mclust` prints the criterion as mclust does (K by model, in
mclust's sign, and the best models). Both read only the table's columns, never a model.
:mod:`fastem.select` re-exports them.
"""

from __future__ import annotations

import numpy as np


def format_table(table, criterion="bic"):
    """The score table as aligned text, the best row marked with ``*`` (a failed fit's row
    with its ``error``).

    Parameters
    ----------
    table : dict of str to ndarray
        The ``table`` of a :class:`Selection`.
    criterion : {'bic', 'aic', 'icl'}, default='bic'
        The column that decides the best row (with ``'icl'``, an ICL column is
        printed too).

    Returns
    -------
    text : str

    Examples
    --------
    >>> import numpy as np
    >>> table = {"n_components": np.array([1, 2]), "covariance_type": np.array(["full", "full"]),
    ...          "bic": np.array([10.0, 5.0]), "aic": np.array([9.0, 4.0]),
    ...          "log_likelihood": np.array([-1.0, -0.5]), "converged": np.array([True, True]),
    ...          "n_iter": np.array([2, 7])}
    >>> print(format_table(table))
       K  covariance         BIC         AIC  loglik/row  iter
       1  full            10.000       9.000     -1.0000     2
    *  2  full             5.000       4.000     -0.5000     7
    """
    best = int(np.nanargmin(table[criterion])) if not np.all(np.isnan(table[criterion])) else -1
    icl = criterion == "icl"  # the column that chose the star is shown
    lines = [
        f"  {'K':>2}  {'covariance':<10}  {'BIC':>10}  {'AIC':>10}  "
        + (f"{'ICL':>10}  " if icl else "")
        + f"{'loglik/row':>10}  iter"
    ]
    for i in range(len(table["bic"])):
        mark = "*" if i == best else " "
        error = str(table["error"][i]) if "error" in table else ""
        it = f"{int(table['n_iter'][i]):>4}" + ("" if table["converged"][i] else " (not converged)")
        if error:  # a fit that failed: its scores are NaN, the reason is what to print
            it = f"   - failed: {' '.join(error.split())}"
        lines.append(
            f"{mark} {int(table['n_components'][i]):>2}  {str(table['covariance_type'][i]):<10}  "
            f"{table['bic'][i]:>10.3f}  {table['aic'][i]:>10.3f}  "
            + (f"{table['icl'][i]:>10.3f}  " if icl else "")
            + f"{table['log_likelihood'][i]:>10.4f}  {it}"
        )
    return "\n".join(lines)


def format_mclust(table: dict, criterion: str = "bic", top: int = 3) -> str:
    """The criterion as mclust prints it: K by model, mclust's sign, and the top models.

    mclust's BIC (and ICL) is ``2 logL - p log n``, higher is better: the
    negative of the table's column.

    Parameters
    ----------
    table : dict of str to ndarray
        The ``table`` of a :class:`Selection`.
    criterion : {'bic', 'aic', 'icl'}, default='bic'
    top : int, default=3
        How many of the best models to list under the matrix.

    Returns
    -------
    text : str

    Examples
    --------
    >>> import numpy as np
    >>> table = {"n_components": np.array([1, 1, 2, 2]),
    ...          "covariance_type": np.array(["EII", "VVV", "EII", "VVV"]),
    ...          "bic": np.array([10.0, 8.0, 9.0, np.nan])}
    >>> print(format_mclust(table, top=2))
    BIC (mclust's sign: 2 logL - p log n, higher is better)
       K         EII         VVV
       1     -10.000      -8.000
       2      -9.000          NA
    Top 2 models by BIC:
      VVV,1  -8.000
      EII,2  -9.000
    """
    values = -np.asarray(table[criterion], dtype=float)
    ks = np.asarray(table["n_components"])
    cts = np.asarray(table["covariance_type"]).astype(str)
    models = list(dict.fromkeys(cts.tolist()))
    name = criterion.upper()
    lines = [f"{name} (mclust's sign: 2 logL - p log n, higher is better)"]
    if criterion == "aic":
        lines[0] = "AIC (negated: 2 logL - 2 p, higher is better)"
    elif criterion == "icl":
        lines[0] = (
            "ICL (mclust's sign: 2 logL - p log n + 2 sum_i log z_i,map(i), higher is better)"
        )
    lines.append(f"  {'K':>2}" + "".join(f"  {m:>10}" for m in models))
    for K in sorted(set(ks.tolist())):
        cells = []
        for m in models:
            sel = (ks == K) & (cts == m)
            v = values[sel][0] if sel.any() else np.nan
            cells.append(f"  {'NA':>10}" if np.isnan(v) else f"  {v:>10.3f}")
        lines.append(f"  {K:>2}" + "".join(cells))
    order = [i for i in np.argsort(-np.where(np.isnan(values), -np.inf, values), kind="stable")]
    order = [i for i in order if not np.isnan(values[i])][:top]
    lines.append(f"Top {len(order)} models by {name}:")
    lines.extend(f"  {cts[i]},{int(ks[i])}  {values[i]:.3f}" for i in order)
    return "\n".join(lines)
