"""The conv study's lens on the linear VAE: intrinsic dimension and information imbalance.

The linear VAE of `linvae` is the one VAE whose representations have a known law: given
the weights, the true factors, the encoder mean and the sampled latent are jointly Gaussian
with covariances fixed by the order parameters, and the reconstruction's distances are those
of the latent under the metric Q. This package measures the 2NN ID and the information
imbalance of those representations during SGD, with the estimators of
`conv_study.estimators`, and predicts them from the order parameters (of the run, or of
the ODE). The page "Geometry of the linear VAE" (docs/linear-geometry.md) has the derivation.

* `law` - the representations and their Gaussian law;
* `geometry` - their IDs and imbalances, measured on points or predicted from the law;
* `snapshots` - one SGD run with its weights kept at chosen times;
* `study` - both along an SGD run, time by time (`linear_geometry`, resumable);
* `figures` - the figures (matplotlib; used by the command line).

numba and matplotlib load on first use, not with ``import conv_study.linear``.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["figures", "geometry", "law", "snapshots", "study"],
    submod_attrs={
        "law": [
            "LAW_REPRESENTATIONS",
            "REPRESENTATIONS",
            "RepresentationLaw",
            "encode_decode",
            "held_out_sample",
            "representation_law",
            "seed_sequence",
        ],
        "geometry": ["Geometry", "measure_geometry", "predict_geometry"],
        "snapshots": ["WeightSnapshots", "simulate_snapshots"],
        "study": ["GeometryInterrupted", "LinearGeometry", "linear_geometry"],
    },
)
