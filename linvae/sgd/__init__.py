"""One-pass SGD of the linear VAE: the simulator, its numba kernels and random numbers.

* `linvae.sgd.simulator` - `simulate`, the public entry point (validation, seeds,
  recording, results), and `sample_inputs` / `make_teacher` for the data model.
* `linvae.sgd.kernels` - the jitted training loop (no validation, no Python objects).
* `linvae.sgd.rng` - xoshiro256++ streams and the ziggurat normal sampler.
* `linvae.sgd.reference` - plain-numpy twins of the kernels, for the tests.

numba is loaded on first use of a name, not by ``import linvae.sgd``.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["kernels", "reference", "rng", "simulator"],
    submod_attrs={
        "simulator": [
            "SimulationDiverged",
            "SimulationInterrupted",
            "make_teacher",
            "sample_inputs",
            "simulate",
        ],
    },
)
