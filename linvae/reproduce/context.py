"""The sizes of the figure set, the `Context` every figure is computed in, and what a figure's
computation returns (`Computed`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from linvae.offline.train import make_datasets
from linvae.params import Model

__all__ = ["Computed", "Context", "OfflineSettings", "ReproduceSettings"]


@dataclass(frozen=True, kw_only=True)
class ReproduceSettings:
    """Sizes of the figure set; `default` ~10 min on 2 cores, `quick` ~1 min.

    Attributes
    ----------
    tau : float
        Learning rate of every run.
    N, n_seeds : int
        Simulation size.
    t_max : float
        Length of the learning-curve runs.
    betas : tuple of float
        KL weights of the learning curves.
    Ms : tuple of int
        Latent dimensions of the superfluous-latent runs.
    t_max_superfluous : float
    gamma_factors : tuple of float
        Annealing rates of the curves, in units of gamma_c.
    n_grid_anneal : int
        Grid of the T_conv(gamma) minimization.
    phase_n : int
        Grid size of the stability diagrams (phase_n x phase_n).
    anneal_grid : tuple of int
        (n_gamma, n_beta_f) of the annealing diagram.
    """

    tau: float
    N: int
    n_seeds: int
    t_max: float
    betas: tuple[float, ...]
    Ms: tuple[int, ...]
    t_max_superfluous: float
    gamma_factors: tuple[float, ...]
    n_grid_anneal: int
    phase_n: int
    anneal_grid: tuple[int, int]

    @classmethod
    def default(cls) -> ReproduceSettings:
        """The sizes of the published figures (about ten minutes on 2 cores)."""
        return cls(
            tau=0.01,
            N=500,
            n_seeds=5,
            t_max=3000.0,
            betas=(0.5, 1.0, 1.5, 2.5),
            Ms=(1, 2, 3),
            t_max_superfluous=20000.0,
            gamma_factors=(0.25, 0.5, 1.0, 2.0, 4.0),
            n_grid_anneal=12,
            phase_n=100,
            anneal_grid=(16, 10),
        )

    @classmethod
    def quick(cls) -> ReproduceSettings:
        """Small sizes, what CI runs (about a minute)."""
        return cls(
            tau=0.05,
            N=100,
            n_seeds=2,
            t_max=600.0,
            betas=(0.5, 1.0, 2.5),
            Ms=(1, 2),
            t_max_superfluous=4000.0,
            gamma_factors=(0.5, 1.0, 2.0),
            n_grid_anneal=5,
            phase_n=30,
            anneal_grid=(5, 3),
        )


@dataclass(frozen=True, kw_only=True)
class OfflineSettings:
    """Sizes of the finite-data figures (docs/offline.md); `default` is the authors'
    protocol (N = 250, alpha = 0.4, 0.8, ..., 5.2, 5 seeds, Adam for 15,000 epochs).

    Attributes
    ----------
    N, n_seeds : int
        Finite-N training.
    alphas : tuple of float
        Training-set sizes of the simulations, in samples per dimension.
    epochs : int
        Full-batch Adam epochs (lr 1e-3).
    sgd_epochs : int
        Epochs of the multi-pass minibatch SGD.
    phase_n : int
        Grid size of the (alpha, beta) diagrams (phase_n x phase_n).
    """

    N: int
    n_seeds: int
    alphas: tuple[float, ...]
    epochs: int
    sgd_epochs: int
    phase_n: int

    @classmethod
    def default(cls) -> OfflineSettings:
        """The authors' protocol."""
        alphas = tuple(round(0.4 * k, 10) for k in range(1, 14))
        return cls(N=250, n_seeds=5, alphas=alphas, epochs=15_000, sgd_epochs=100, phase_n=240)

    @classmethod
    def quick(cls) -> OfflineSettings:
        """Small sizes, what CI runs."""
        return cls(
            N=60, n_seeds=2, alphas=(0.4, 1.6, 3.2, 5.2), epochs=3000, sgd_epochs=20, phase_n=60
        )


@dataclass(frozen=True)
class Computed:
    """What a figure's computation returns.

    Attributes
    ----------
    numbers : dict
        The values behind the figure, recorded in ``manifest.json`` (merged into the stage's
        section of ``numbers``).
    data : dict
        Everything the drawing needs beyond ``numbers`` (trajectories, diagrams, curves), and
        what figures that need this one read.
    """

    numbers: Mapping[str, Any]
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class Context:
    """What every figure is computed in: the settings, the seed, the results so far.

    Attributes
    ----------
    quick : bool
        The quick sizes (`ReproduceSettings.quick`, `OfflineSettings.quick`).
    seed : int
        Seed of every random draw of the set.
    results : dict
        `Computed` results of the figures done so far, by figure name (a figure reads those
        of its ``needs`` here).
    """

    quick: bool = False
    seed: int = 2024
    results: dict[str, Computed] = field(default_factory=dict)

    @cached_property
    def settings(self) -> ReproduceSettings:
        """The sizes of the online figures."""
        return ReproduceSettings.quick() if self.quick else ReproduceSettings.default()

    @cached_property
    def offline(self) -> OfflineSettings:
        """The sizes of the finite-data figures."""
        return OfflineSettings.quick() if self.quick else OfflineSettings.default()

    @property
    def base(self) -> Model:
        """The problem of the online figures: rho = eta = beta = 1, lam = 0, M = M* = 1."""
        return Model(rho=1.0, eta=1.0, beta=1.0, lam=0.0, tau=self.settings.tau)

    @cached_property
    def offline_data(self):
        """The training sets of the finite-data figures (rho = eta = 1), drawn once."""
        o = self.offline
        return make_datasets(
            o.N, np.array(o.alphas), rho=1.0, eta=1.0, n_seeds=o.n_seeds, rng=self.seed
        )
