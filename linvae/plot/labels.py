"""Axis labels of every linvae figure, written once (matplotlib mathtext).

The symbols are those of the theory page (docs/theory.md, section "Conventions") and of the
results page (docs/results.md): observables (``eps_g``, ``m`` ... ``D``), parameters (``beta``,
``rho``, ``eta``, ``lam``, ``gamma``, ``beta_f``, ``M``) and the values of the phase diagrams.
"""

from __future__ import annotations

__all__ = ["LABELS", "axis_label", "model_text", "schedule_text", "tex"]

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
    "top_eigenvalue": r"$J_{\max}$",
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


def schedule_text(schedule) -> str:
    r"""A KL schedule in symbols, for titles and legends (mathtext).

    Each schedule writes its own (`linvae.schedules.Schedule.label`). A factor of 1 is left
    out (``tanh(0.002 t)``, not ``1 tanh(0.002 t)``).

    Examples
    --------
    >>> from linvae import TanhAnneal
    >>> print(schedule_text(TanhAnneal(beta_final=0.8, gamma=0.05)))
    $\beta(t) = 0.8\,\tanh(0.05\,t)$
    >>> print(schedule_text(TanhAnneal(beta_final=1.0, gamma=0.002)))
    $\beta(t) = \tanh(0.002\,t)$
    """
    return schedule.label


def model_text(model) -> str:
    r"""A model's parameters in symbols, for figure titles (mathtext).

    Examples
    --------
    >>> from linvae import Model
    >>> print(model_text(Model(rho=2.0)))
    $M = 1$, $M^* = 1$, $\rho = 2$, $\eta = 1$, $\beta = 1$, $\lambda = 0$, $\tau = 0.01$
    """
    rho = model.rho if isinstance(model.rho, float) else tuple(model.rho)
    rho_text = (
        f"{rho:g}" if isinstance(rho, float) else "(" + ", ".join(f"{r:g}" for r in rho) + ")"
    )
    return (
        f"$M = {model.M}$, $M^* = {model.M_star}$, $\\rho = {rho_text}$, "
        f"$\\eta = {model.eta:g}$, {schedule_text(model.schedule)}, "
        f"$\\lambda = {model.lam:g}$, $\\tau = {model.tau:g}$"
    )
