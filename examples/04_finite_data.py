r"""
Finite data: training on a fixed set of samples
===============================================

In practice a VAE is trained on a fixed data set, reused for many epochs, not on a fresh
sample at every step. With n samples in dimension N, what counts is the number of samples per
dimension, alpha = n / N. This example computes the global minimum of the regularised loss as
$N \to \infty$ against $\alpha$, trains the model with the authors' protocol (full-batch Adam)
on finite data sets to check it, and draws the $(\alpha, \beta)$ phase diagram.

Parameters: one latent and one spike, $\rho = \eta = 1$, L2 penalty $\lambda = 1$ on the
summed loss; theory curves for $\beta = 0.5, 1, 1.9$; training at $N = 120$, $\beta = 1$,
$\alpha \in \{0.5, 1, 2, 4\}$, 3 seeds each, 15,000 Adam epochs (learning rate $10^{-3}$).
"""

# %%
# The theory against alpha
# ------------------------
# `solve_offline` is vectorised over $\alpha$: the top eigenvalue of the sample covariance
# and its overlap with the signal follow from random-matrix theory, the rest is a scalar
# minimisation. At $\beta = 1.9$ the model stays collapsed ($\varepsilon_g = \rho$) up to
# `plateau_end`, however small the noise in its data: the collapsed plateau.
import matplotlib.pyplot as plt
import numpy as np

from linvae.offline import (
    Adam,
    make_datasets,
    offline_phase_diagram,
    plateau_end,
    solve_offline,
    train_offline,
)
from linvae.plot.offline import plot_eps_g_vs_alpha, plot_offline_phase_diagram

alphas = np.geomspace(0.05, 20.0, 400)
theory = {
    rf"$\beta = {beta:g}$": solve_offline(alphas, beta=beta, lam=1.0).eps_g
    for beta in (0.5, 1.0, 1.9)
}
print(f"at beta = 1.9 the model is collapsed up to alpha = {plateau_end(1.9, lam=1.0):g}")

# %%
# Training on finite data sets
# ----------------------------
# `make_datasets` draws, per $(\alpha, \mathrm{seed})$, a training set of $\alpha N$ samples
# and an initialisation; `train_offline` trains all of them (in parallel) and also returns,
# for each, the global minimum of its own data set's loss, so that the optimiser and the
# finite-$N$ effects can be told apart.
data = make_datasets(120, [0.5, 1.0, 2.0, 4.0], n_seeds=3, rng=0)
run = train_offline(data, beta=1.0, lam=1.0, method=Adam(epochs=15_000))
summary = run.summary()
gap = np.max(np.abs(run.eps_g - run.theory.eps_g))
print(f"largest |eps_g(Adam) - eps_g(global minimum of its data)|: {gap:.1e}")
for alpha, mean, std in zip(
    summary["alpha"], summary["mean"]["eps_g"], summary["std"]["eps_g"], strict=True
):
    limit = solve_offline(alpha, beta=1.0, lam=1.0).eps_g
    print(f"alpha = {alpha:g}: eps_g = {mean:.3f} +- {std:.3f} (N -> infinity: {limit:.3f})")

# %%
# Draw the curves and the points
# ------------------------------
# Lines: the $N \to \infty$ global minimum; points: Adam at $N = 120$, mean and standard
# deviation over 3 seeds. For $\beta < \rho + \eta$ the model over-fits the noise below
# $\alpha = 1$ (where the top eigenvalue of the sample covariance leaves the bulk), and
# $\varepsilon_g$ peaks there. The points lie off the lines, far off next to $\alpha = 1$:
# Adam ends at the global minimum of each data set's own loss (the gap printed above), so the
# difference is the finite size of the data. At $N = 120$ the top eigenvalue of the sample
# covariance fluctuates by $O(N^{-1/2})$ and, next to $\alpha = 1$, its eigenvector's overlap
# with the signal converges slowly in $N$; the points approach the lines as $N$ grows.
points = {
    r"$\beta = 1$": (
        np.array(summary["alpha"]),
        np.array(summary["mean"]["eps_g"]),
        np.array(summary["std"]["eps_g"]),
    )
}
ax = plot_eps_g_vs_alpha(alphas, theory, points=points, points_label="Adam, N = 120, 3 seeds")
ax.set_title(r"$\rho = \eta = 1$, $\lambda = 1$")
plt.show()

# %%
# The phase diagram over alpha and beta
# -------------------------------------
# Collapsed, learned, or over-fitting the noise, for every $(\alpha, \beta)$; the collapse
# threshold $\beta_c(\alpha)$ tends to $\rho + \eta$ (the online threshold) only as
# $\alpha \to \infty$.
diagram = offline_phase_diagram(
    np.geomspace(0.05, 100.0, 150), np.linspace(0.01, 3.5, 150), rho=1.0, eta=1.0, lam=1.0
)
plot_offline_phase_diagram(diagram)
plt.show()
