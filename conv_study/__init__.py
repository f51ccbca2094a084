"""Conv-VAE geometry study: intrinsic dimension and information imbalance layer by layer.

Reproduces Camboulin, Doimo & Glielmo, "Understanding Variational Autoencoders with
Intrinsic Dimension and Information Imbalance" (arXiv 2411.01978). The estimators
(:mod:`conv_study.estimators`) need only numpy; training and the representations need the
``conv`` extra (torch).
"""

__version__ = "0.1.0"
