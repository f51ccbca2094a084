"""The paper's figure set, theory and simulation overlaid: the ``linvae reproduce`` application.

An application on top of the library: it runs the simulator (`linvae.sgd`), the ODEs
(`linvae.theory`) and the analysis (`linvae.analysis`), and draws with `linvae.plot`;
nothing in the library imports it. What each figure shows, and the symbols (beta* = rho + eta,
J_max, gamma_c = -J_max / 2, eps_g*), are explained on the results page (docs/results.md).

The set is a registry, `FIGURES` (`linvae.reproduce.registry`): one function per figure
computes its numbers, one draws it, and each is registered with its name, stage and files.
Figures (each as PNG and PDF), with the numbers behind them in ``manifest.json``:

1. ``learning_curves``: eps_g(t), SGD (mean and band over seeds) vs ODE, several beta.
2. ``order_parameters``: m, d, Q, E, R, D over time at beta = 1, SGD vs ODE.
3. ``eps_g_vs_beta``: eps_g* against beta (tau -> 0 closed form, finite-tau fixed point, SGD and
   ODE end values): optimum at beta = eta, collapse at beta*.
4. ``superfluous``: M > M_star: noise fitting (beta < eta), algebraic convergence (beta = eta),
   the carrier of the factor over time, convergence time against M.
5. ``annealing``: eps_g(t) for several gamma around gamma_c (ODE, and SGD for two), and
   T_conv(gamma) with the gamma_c marker.
6. ``phase_*``: the (beta, rho), (beta, lam), (gamma, beta_f) and (M, beta) diagrams.
7. ``offline-*``: finite data (docs/offline.md): eps_g against alpha (theory and the authors'
   Adam protocol), the (alpha, beta) phase diagrams, rate-distortion curves, one pass against
   many passes (`OfflineSettings`).

The modules: ``context`` (`ReproduceSettings`, `OfflineSettings`, `Context`, `Computed`),
``registry`` (`FigureSpec`, `Stage`, `FigureSet`), one module per group of figures
(``online``, ``superfluous``, ``annealing``, ``phase``, ``offline``) and ``run`` (`FIGURES`,
`reproduce`). The face is lazy: the names below load their module on first use.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "context": ["Computed", "Context", "OfflineSettings", "ReproduceSettings"],
        "registry": ["FigureSet", "FigureSpec", "Stage"],
        "run": ["FIGURES", "reproduce"],
    },
)
