"""Figure of an optimal annealing protocol: beta(t) and the error it gives, beside the baselines.

`plot_protocol` draws an `linvae.analysis.protocol.OptimalProtocol`: on top the optimal
beta(t) with the best tanh and two-level step and constant beta_f; below, for the same
schedules, the ensemble-median distance of eps_g from eps_g* (log scale) with the tolerance.
What it shows is explained on the protocols page (docs/protocols.md).
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from linvae.analysis.protocol import OptimalProtocol
from linvae.schedules import Constant
from linvae.theory.initial import initial_ensemble
from linvae.theory.solve import solve_ode

__all__ = ["plot_protocol"]

_STYLES = {
    "optimal": dict(color="C3", lw=2.0),
    "tanh": dict(color="C0", lw=1.3),
    "step": dict(color="C2", lw=1.3, ls="--"),
    "constant": dict(color="0.4", lw=1.0, ls=":"),
}


def plot_protocol(
    result: OptimalProtocol, *, n_states: int = 8, t_max: float | None = None, rng=0
) -> Figure:
    """Draw the optimal beta(t) and its error against the best tanh, step and constant beta_f.

    Parameters
    ----------
    result : OptimalProtocol
    n_states : int
        Initial states (the first ``n_states`` of the result's ensemble, seed ``rng``) whose
        median |eps_g - eps_g*| is drawn for each schedule.
    t_max : float, optional
        Right end of the time axis (default: 1.3 times the constant beta_f's convergence time).
    rng : int, Generator or None
        Seed of the ensemble (the result's, 0 by default).

    Returns
    -------
    matplotlib.figure.Figure
    """
    base = replace(result.model, beta=Constant(beta=result.beta_final))
    if t_max is None:
        t_max = 1.3 * result.constant_value if result.objective == "convergence-time" else (
            result.horizon)  # fmt: skip
    schedules = {
        "optimal": (result.schedule, result.speedup),
        "tanh": (result.baselines["tanh"].schedule, result.baselines["tanh"].speedup),
        "step": (result.baselines["step"].schedule, result.baselines["step"].speedup),
        "constant": (base.schedule, 1.0),
    }
    names = {"optimal": "optimal protocol", "tanh": "best tanh", "step": "best two-level step",
             "constant": r"constant $\beta_f$"}  # fmt: skip
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6.4, 6.0), sharex=True, constrained_layout=True,
        gridspec_kw={"height_ratios": [1, 1.4]},
    )  # fmt: skip
    t = np.linspace(0.0, t_max, 2000)
    ensemble = initial_ensemble(base, result.n_init, N=result.N, rng=rng)
    n_states = min(n_states, result.n_init)
    for key, (schedule, speedup) in schedules.items():
        label = f"{names[key]} (speed-up {speedup:.2f})"
        top.plot(t, schedule(t), label=label, **_STYLES[key])
        errors = []
        for i in range(n_states):
            init = type(ensemble)(**{k: v[i] for k, v in ensemble.as_dict().items()})
            sol = solve_ode(replace(base, beta=schedule), t_max=t_max, init=init, t_eval=t)
            errors.append(np.abs(sol.eps_g[0] - result.target.eps_g))
        bottom.plot(t, np.median(errors, axis=0), **_STYLES[key])
    top.axhspan(result.beta_min, result.beta_max, color="0.92", zorder=0)
    top.set_ylabel(r"$\beta(t)$")
    top.set_ylim(0.0, 1.05 * result.beta_max)
    top.legend(fontsize=8, loc="best", framealpha=0.9)
    bottom.axhline(result.tol, color="k", lw=0.8)
    bottom.text(0.01 * t_max, result.tol * 1.3, f"tol = {result.tol:g}", fontsize=8)
    bottom.set_yscale("log")
    bottom.set_ylim(result.tol * 1e-2, None)
    bottom.set_xlabel(r"$t$ = step / $N$")
    bottom.set_ylabel(r"median $|\epsilon_g - \epsilon_g^*|$" + f" ({n_states} starts)")
    top.set_title(
        rf"$\beta_f$ = {result.beta_final:g}, $\tau$ = {base.tau:g}, $\rho$ = "
        rf"{base.rho_vector[0]:g}, $\eta$ = {base.eta:g}, $N$ = {result.N}: "
        f"{result.objective}",
        fontsize=9,
    )
    return fig
