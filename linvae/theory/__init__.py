"""The order-parameter ODEs of one-pass SGD: sympy derivation, compiled right-hand side, solver.

* :func:`solve_ode`, :func:`initial_conditions_from` - integrate the ODEs (the SGD twin).
* :func:`linvae.theory.derive.derive_ode` - the sympy derivation (spec section 5.1).
* :func:`linvae.theory.rhs.compile_ode` - numba code generated from it, cached per shape.
* :func:`linvae.theory.reference.matrix_form_drift` - the plain-numpy matrix forms (spec 5.2).

sympy and numba are imported on first use, not by ``import linvae.theory``; plotting lives in
:mod:`linvae.plot.compare`, which nothing in the core imports.
"""

from linvae.theory.solve import initial_conditions_from, solve_ode

__all__ = ["initial_conditions_from", "solve_ode"]
