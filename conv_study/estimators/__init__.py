"""Intrinsic dimension (2NN) and information imbalance with exact float64 neighbours.

Both estimators only need, for every point, who its nearest neighbours are and where a given
point ranks among its neighbours. Distances are screened with a float32 Gram matrix (BLAS,
fast) and every comparison the screen cannot decide within a proven (or, for float32 rank
counts, a probabilistic) error bound is redone with the exact distance
``sqrt(sum((x_i - x_j)**2))`` accumulated in float64. The results are therefore those of exact
float64 distances, without the ``|x|^2 + |y|^2 - 2 x.y`` round-off that makes ``r1 = 0``.
The estimators page (docs/conv-study-estimators.md) gives the definitions, the comparison
with DADApy, a worked example and the speed.

* `twonn` - `twonn_id`, `twonn_scaling`,
  `twonn_from_mu`;
* `imbalance` - `information_imbalance`,
  `relative_imbalance_difference`, `study_pairs`;
* `geometry` - `layer_geometry`, the ID of many
  representations and the imbalances between them, with one Gram matrix each;
* `distances` - `nearest_neighbors` and the screening;
* `kernels` - the numba kernels (no validation);
* `validation` - the argument checks, and the one policy for degenerate data of every
  estimator: points that all coincide, or too few distinct points for the estimator, are
  refused; fewer than `MIN_RELIABLE_POINTS` (25) distinct points give a warning.

numba is loaded on first use of a name, not by ``import conv_study.estimators``.

Symbol table
------------
N
    number of points.
D
    embedding dimension (width of one representation).
r1, r2
    distances from a point to its first and second nearest neighbour (self excluded).
mu
    ``r2 / r1``.
Delta(A -> B)
    information imbalance from space A to space B.

References
----------
.. [1] E. Facco, M. d'Errico, A. Rodriguez, A. Laio, "Estimating the intrinsic dimension of
   datasets by a minimal neighborhood information", Sci. Rep. 7, 12140 (2017).
.. [2] A. Glielmo, C. Zeni, B. Cheng, G. Csányi, A. Laio, "Ranking the information content of
   distance measures", PNAS Nexus 1, pgac039 (2022).
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["distances", "geometry", "imbalance", "kernels", "twonn", "validation"],
    submod_attrs={
        "distances": ["Neighbors", "nearest_neighbors"],
        "geometry": ["LayerGeometry", "layer_geometry"],
        "imbalance": [
            "Imbalance",
            "information_imbalance",
            "relative_imbalance_difference",
            "study_pairs",
        ],
        "twonn": ["IDScaling", "TwoNN", "twonn_from_mu", "twonn_id", "twonn_scaling"],
    },
)
