"""The order-parameter ODEs of one-pass SGD: sympy derivation, compiled drift, solver.

* `solve_ode`, `initial_conditions_from` - integrate the ODEs (the SGD twin).
* `initial_order_parameters`, `initial_ensemble` - initial conditions imitating a
  random start at size N (one, or an ensemble of them).
* `linvae.theory.integrate` - a compiled DOP853 integrator for single trajectories and
  batches (``solve_ode``'s default wherever it applies, ``method="DOP853-numba"`` by name;
  the annealing ensembles and maps).
* `Drift` - the right-hand side bound to one model (`linvae.theory.drift`).
* `linvae.theory.derive.derive_ode` - the sympy derivation (the theory page,
  docs/theory.md, section "The derivation").
* `linvae.theory.rhs.compile_ode` - numba code generated from it, cached per shape.
* `linvae.theory.reference.matrix_form_drift` - the plain-numpy matrix forms (docs/theory.md,
  section "The result").

Importing the package is light (scientific-Python SPEC-1): the names below load their modules
on first use, and sympy and numba load only when a drift is first compiled. Plotting lives in
`linvae.plot.compare`, which nothing in the core imports.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["derive", "drift", "initial", "integrate", "reference", "rhs", "solve"],
    submod_attrs={
        "drift": ["Drift"],
        "initial": ["initial_ensemble", "initial_order_parameters"],
        "solve": ["initial_conditions_from", "solve_ode"],
    },
)
