r"""
Posterior collapse: the phase diagram
=====================================

Where does SGD learn the spike, and where does the VAE collapse onto its prior? The theory
answers without simulating: at every point of a grid it takes the learned fixed point of the
ODEs (where it exists) and the collapsed one, and keeps the one whose Jacobian says it is
stable. The boundary is the collapse threshold $\beta^* = \rho + \eta$ without weight decay;
with weight decay $\lambda$ it moves to $\beta^* = \nu / (1 + \lambda) - \lambda / \nu$, with
$\nu = \rho + \eta$, and the transition becomes first order (a strip where both points are
stable).

Parameters: one latent and one spike ($M = M^* = 1$), noise $\eta = 1$, learning rate
$\tau = 0.01$ (the fixed points are those of the $\tau \to 0$ drift). Left: $\lambda = 0$,
$\beta \in [0.02, 4]$ against $\rho \in [0.05, 3]$; right: $\rho = 1$, a close-up of small
$\beta \in [0.005, 0.25]$ against strong weight decay $\lambda \in [1.2, 1.8]$, where the
first-order strip lies. Grids of $80 \times 60$ points.
"""

# %%
# Compute the two diagrams
# ------------------------
# `stability_diagram` sweeps $\beta$ on the horizontal axis and one other parameter on the
# vertical one; its result holds the phase and the generalisation error at the attractor,
# $\varepsilon_g^*$, at every grid point, and the analytic boundaries.
import matplotlib.pyplot as plt
import numpy as np

from linvae import Model
from linvae.analysis.phase import stability_diagram
from linvae.plot.phase import plot_phase_diagram

model = Model(M=1, M_star=1, rho=1.0, eta=1.0, beta=1.0, lam=0.0, tau=0.01)
by_rho = stability_diagram(
    model, betas=np.linspace(0.02, 4.0, 80), values=np.linspace(0.05, 3.0, 60), axis="rho"
)
by_lam = stability_diagram(
    model, betas=np.linspace(0.005, 0.25, 80), values=np.linspace(1.2, 1.8, 60), axis="lam"
)
for diagram in (by_rho, by_lam):
    phases, counts = np.unique(diagram.values["phase"], return_counts=True)
    print(diagram.kind, dict(zip(phases.tolist(), counts.tolist(), strict=True)))

# %%
# Check the threshold on the grid
# -------------------------------
# Without weight decay, every grid point below $\beta^* = \rho + \eta$ is learned and every
# point above it collapsed.
beta_grid, rho_grid = np.meshgrid(by_rho.x, by_rho.y)
below = beta_grid < rho_grid + model.eta
learned = by_rho.values["phase"] == "learned"
print(f"learned exactly below beta* = rho + eta: {bool(np.all(learned == below))}")

# %%
# Draw them
# ---------
# The colour is $\varepsilon_g^*$ at the attractor; the lines are the analytic thresholds. In
# the collapsed phase $\varepsilon_g^*$ does not depend on $\beta$: the VAE has stopped
# looking at its data. On the right, between the spinodal (where the learned branch ends)
# and $\beta^*$, training ends learned or collapsed depending on where it starts.
fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.8), constrained_layout=True)
plot_phase_diagram(by_rho, ax=left)
plot_phase_diagram(by_lam, ax=right)
plt.show()
