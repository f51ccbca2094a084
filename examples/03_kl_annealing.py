r"""
KL annealing: constant against annealed, and the best rate
==========================================================

Raising the KL weight slowly instead of training at its final value from the start lets the
VAE escape the plateau near the collapsed point sooner: $\beta(t) = \beta_f \tanh(\gamma t)$.
Too slow a rate, though, keeps $\beta$ away from $\beta_f$ for long. This example finds the
rate $\gamma$ that minimises the convergence time $T_{\rm conv}$ on the ODEs, over an
ensemble of random initial states, and checks the speed-up on the simulated SGD.

Parameters: one latent and one spike, $\rho = \eta = 1$, $\lambda = 0$, final KL weight
$\beta_f = 1.8$ (just below the threshold $\beta^* = 2$, where the plateau is long),
$\tau = 0.01$, input dimension $N = 100$ (small, to keep the example fast: the plateau, and
with it what annealing saves, grows like $\ln N$); $T_{\rm conv}$ at tolerance $10^{-3}$ on
$\varepsilon_g$, averaged over 16 random initial states of the authors' initialisation; SGD
with 4 seeds per schedule, up to $t = 8000$.
"""

# %%
# The best rate from the ODEs
# ---------------------------
# `optimal_annealing_rate` integrates the ODEs from every initial state at each rate of a
# log-spaced grid around the critical rate $\gamma_c = -J_{\max}(\beta_f)/2$ (the slowest
# decay rate of the stable point), refines the minimum of the mean $T_{\rm conv}$, and
# reports every answer with its spread over the initial states.
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np

from linvae import Model, TanhAnneal, simulate
from linvae.analysis.annealing import optimal_annealing_rate
from linvae.plot.trajectory import spread_band

model = Model(M=1, M_star=1, rho=1.0, eta=1.0, beta=1.8, lam=0.0, tau=0.01)
best = optimal_annealing_rate(model, n_init=16, n_grid=12, N=100, rng=0)
print(best.message)
print(
    f"gamma_c = {best.gamma_c:.2e}, gamma_opt = {best.gamma_opt:.2e} "
    f"({best.gamma_opt / best.gamma_c:.2f} gamma_c)"
)

# %%
# The simulated SGD, constant against annealed
# --------------------------------------------
# The same seeds (hence the same data streams and initial weights) trained once at constant
# $\beta = \beta_f$ and once with the $\tanh$ schedule at the rate found above.
annealed = replace(model, beta=TanhAnneal(beta_final=1.8, gamma=best.gamma_opt))
runs = {
    "constant": simulate(model, N=100, t_max=8000, dt=20, n_seeds=4, rng=1),
    "tanh": simulate(annealed, N=100, t_max=8000, dt=20, n_seeds=4, rng=1),
}
# At N = 100 the SGD's eps_g fluctuates by about 1 % around its final value, so the time to
# converge is read at a tolerance of 5 % of eps_g* rather than the ODEs' 1e-3: the first time
# the mean over seeds enters that band.
eps_star = best.target.eps_g
for name, run in runs.items():
    inside = np.abs(run.eps_g.mean(axis=0) - eps_star) < 0.05 * eps_star
    print(f"{name}: mean eps_g within 5 % of eps_g* = {eps_star:.3f} from t = {run.t[inside][0]:g}")

# %%
# Draw both
# ---------
# Left: $\varepsilon_g(t)$ of the SGD runs (mean and 16-84 % band over the 4 seeds) and the
# error at the stable point, $\varepsilon_g^*$. Right: the ODEs' mean $T_{\rm conv}$ over the
# 16 initial states against the rate, with its 16-84 % range, and constant $\beta$ as the
# horizontal line it has to beat. Annealed, the SGD leaves the plateau long before the
# constant-$\beta$ runs; while $\beta(t)$ is still small its error even dips below
# $\varepsilon_g^*$, the error at the final $\beta_f$. Much slower rates than $\gamma_c$ lose:
# $\beta$ then takes longer to reach $\beta_f$ than the plateau lasts.
fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.2), constrained_layout=True)
labels = {"constant": r"constant $\beta = \beta_f$", "tanh": r"$\tanh$ at $\gamma_{\rm opt}$"}
for name, run in runs.items():
    low, high = spread_band(run.eps_g)
    (line,) = left.plot(run.t, run.eps_g.mean(axis=0), label=labels[name])
    left.fill_between(run.t, low, high, color=line.get_color(), alpha=0.25, lw=0)
left.axhline(eps_star, color="0.3", ls=":", label=r"$\varepsilon_g^*$")
left.set(
    yscale="log",
    xlabel=r"$t$ = step / $N$",
    ylabel=r"$\varepsilon_g$",
    title=r"SGD, $N = 100$, 4 seeds (band: 16-84 % of seeds)",
)
left.legend(frameon=False)

ratio = best.gammas / best.gamma_c
low, high = np.quantile(best.t_conv_all, [0.16, 0.84], axis=1)
right.plot(ratio, best.t_conv, "o-", ms=3, label=r"$\tanh$ schedule, mean")
right.fill_between(ratio, low, high, alpha=0.25, lw=0, label="16-84 % of initial states")
right.axhline(best.t_conv_constant, color="0.3", ls=":", label=r"constant $\beta_f$, mean")
optimum = best.gamma_opt / best.gamma_c
right.axvline(optimum, color="r", ls="--", label=rf"$\gamma_{{\rm opt}} = {optimum:.2f}\,\gamma_c$")
right.set(
    xscale="log",
    yscale="log",
    xlabel=r"$\gamma / \gamma_c$",
    ylabel=r"$T_{\rm conv}$ (tol $10^{-3}$)",
    title=f"ODEs, {best.n_init} initial states at $N = 100$",
)
right.legend(frameon=False, fontsize=8)
fig.suptitle(r"$\rho = \eta = 1$, $\lambda = 0$, $\beta_f = 1.8$, $\tau = 0.01$")
plt.show()
