"""Axis labels of every linvae figure, written once (matplotlib mathtext).

The symbols are those of the theory page (docs/theory.md, section "Conventions") and of the
results page (docs/results.md): observables (``eps_g``, ``m`` ... ``D``), parameters (``beta``,
``rho``, ``eta``, ``lam``, ``gamma``, ``beta_f``, ``M``) and the values of the phase diagrams.
"""

from __future__ import annotations

__all__ = ["LABELS", "axis_label", "tex"]

LABELS: dict[str, str] = {
    # time and observables
    "t": "$t$",
    "eps_g": r"$\varepsilon_g$",
    "m": "$m$",
    "d": "$d$",
    "Q": "$Q$",
    "E": "$E$",
    "R": "$R$",
    "D": "$D$",
    # parameters
    "beta": r"$\beta$",
    "rho": r"$\rho$",
    "eta": r"$\eta$",
    "lam": r"$\lambda$",
    "gamma": r"$\gamma$",
    "beta_f": r"$\beta_f$",
    "M": "$M$",
    "N": "$N$",
    # values and boundaries of the analysis
    "beta_star": r"$\beta^*$",
    "beta_eta": r"$\beta=\eta$",
    "gamma_c": r"$\gamma_c$",
    "eps_g_star": r"$\varepsilon_g^*$",
    "penalty": r"$\varepsilon_g^*(M) - \varepsilon_g^*(M^*)$",
    "speedup": r"$T_{conv}(\beta_f) / T_{conv}(\gamma)$",
    "t_conv": r"$T_{conv}$",
    "top_eigenvalue": r"$J_{max}$",
}


def axis_label(name: str, index: tuple[int, ...] = ()) -> str:
    r"""The axis label of ``name`` (the name itself if it has none), with 1-based ``index``.

    Examples
    --------
    >>> print(axis_label("eps_g"), axis_label("Q", (0, 1)), axis_label("wall_time_s"))
    $\varepsilon_g$ $Q$$_{1,2}$ wall_time_s
    """
    text = LABELS.get(name, name)
    if index:
        text += "$_{" + ",".join(str(k + 1) for k in index) + "}$"
    return text


def tex(name: str) -> str:
    r"""The bare mathtext of ``name`` (no ``$``), to build a larger formula from.

    Examples
    --------
    >>> print(f"${tex('eps_g')}^{{SGD}}$")
    $\varepsilon_g^{SGD}$
    """
    return LABELS.get(name, name).strip("$")
