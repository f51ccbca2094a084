"""The convolutional VAE of the intrinsic-dimension study, with layer taps l0..l10.

The network is the one of Camboulin, Doimo & Glielmo (arXiv 2411.01978), identical for
MNIST-like (C = 1) and CIFAR-like (C = 3) inputs of size C x 32 x 32:

* encoder: four blocks Conv2d(kernel 4, stride 2, padding 1) -> BatchNorm2d -> LeakyReLU(0.2)
  with 64, 128, 256, 256 channels (32 -> 16 -> 8 -> 4 -> 2 px), flattened to 1024, then two
  separate Linear(1024, K) heads for the mean ``mu`` and the log-variance ``logvar``;
* reparametrisation: ``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``;
* decoder: Linear(K, 1024) -> BatchNorm1d -> LeakyReLU(0.2), reshaped to 256 x 2 x 2, three
  blocks ConvTranspose2d(4, 2, 1) -> BatchNorm2d -> LeakyReLU(0.2) with 256, 128, 64 channels,
  then ConvTranspose2d(64 -> C, 4, 2, 1) and a sigmoid.

PyTorch's default initialisation, all biases on.

Symbols
-------
C : number of image channels (1 or 3).
K : bottleneck (latent) dimension.
l0..l10 : the eleven analysed representations, see `LAYER_NAMES`.

The representations (flattened, one row per image) are

====  ======================================  ==============
name  what                                    size (C = 3)
====  ======================================  ==============
l0    input image                             3072
l1    encoder block 1 (after activation)      16384
l2    encoder block 2                         8192
l3    encoder block 3                         4096
l4    encoder block 4                         1024
l5    bottleneck: sampled ``z`` (paper)       K
l6    decoder linear block                    1024
l7    decoder block 1                         4096
l8    decoder block 2                         8192
l9    decoder block 3                         16384
l10   sigmoid output                          3072
====  ======================================  ==============

plus ``"mu"``, the posterior mean at the bottleneck. The decoder taps l6..l10 are computed from
the *sampled* ``z``, as in the paper.

References
----------
.. [1] P. Camboulin, D. Doimo, A. Glielmo, "Understanding Variational Autoencoders with
   Intrinsic Dimension and Information Imbalance", arXiv:2411.01978 (2024).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from conv_study.constants import IMAGE_SIZE, LATENT_LAYER, LAYER_NAMES, MU_NAME
from linvae.utils.validation import check_int

__all__ = [
    "LAYER_NAMES",
    "ConvVAE",
    "VAEOutput",
    "compute_representations",
    "layer_sizes",
]

_ENC_CHANNELS = (64, 128, 256, 256)
_DEC_CHANNELS = (256, 128, 64)
_NEG_SLOPE = 0.2


def layer_sizes(channels: int, latent_dim: int) -> dict[str, int]:
    """Flattened size of each representation l0..l10 (and ``mu``).

    Parameters
    ----------
    channels : int
        Image channels C (1 or 3).
    latent_dim : int
        Bottleneck dimension K.

    Returns
    -------
    dict[str, int]
        ``{"l0": C * 1024, "l1": 16384, ..., "l5": K, "mu": K, ..., "l10": C * 1024}``.

    Examples
    --------
    >>> list(layer_sizes(3, 2).values())[:6]
    [3072, 16384, 8192, 4096, 1024, 2]
    """
    _check_channels(channels)
    _check_latent_dim(latent_dim)
    pixels = IMAGE_SIZE * IMAGE_SIZE
    return {
        "l0": channels * pixels,
        "l1": 64 * 16 * 16,
        "l2": 128 * 8 * 8,
        "l3": 256 * 4 * 4,
        "l4": 256 * 2 * 2,
        "l5": latent_dim,
        MU_NAME: latent_dim,
        "l6": 1024,
        "l7": 256 * 4 * 4,
        "l8": 128 * 8 * 8,
        "l9": 64 * 16 * 16,
        "l10": channels * pixels,
    }


def _check_channels(channels: int) -> None:
    if isinstance(channels, bool) or not isinstance(channels, int) or channels not in (1, 3):
        raise ValueError(f"The `channels` parameter of ConvVAE must be 1 or 3. Got {channels!r}.")


def _check_latent_dim(latent_dim: int) -> None:
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(
            "The `latent_dim` parameter (K) of ConvVAE must be an integer >= 1. "
            f"Got {latent_dim!r}."
        )


@dataclass(frozen=True)
class VAEOutput:
    """Result of a forward pass of `ConvVAE`.

    Attributes
    ----------
    recon : torch.Tensor, shape (N, C, 32, 32)
        Reconstruction (sigmoid output), in (0, 1).
    logits : torch.Tensor, shape (N, C, 32, 32)
        Pre-sigmoid output; ``recon == sigmoid(logits)``.
    mu, logvar : torch.Tensor, shape (N, K)
        Posterior mean and log-variance.
    z : torch.Tensor, shape (N, K)
        The sampled latent code fed to the decoder.
    """

    recon: torch.Tensor
    logits: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor


def _enc_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(_NEG_SLOPE),
    )


def _dec_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(_NEG_SLOPE),
    )


class ConvVAE(nn.Module):
    """The paper's convolutional VAE for C x 32 x 32 images and a K-dimensional bottleneck.

    Parameters
    ----------
    channels : {1, 3}
        Image channels C (1: MNIST-like, 3: CIFAR-like).
    latent_dim : int
        Bottleneck dimension K >= 1.

    Raises
    ------
    ValueError
        If ``channels`` is not 1 or 3 or ``latent_dim`` < 1.

    Notes
    -----
    Parameter count: 3,422,597 for (C, K) = (1, 2) and 3,426,695 for (3, 2); each extra latent
    dimension adds 2 * 1025 (heads) + 1024 (decoder linear) = 3074 parameters.

    Examples
    --------
    >>> import torch
    >>> model = ConvVAE(channels=1, latent_dim=2)
    >>> sum(p.numel() for p in model.parameters())
    3422597
    >>> out = model(torch.rand(4, 1, 32, 32), generator=torch.Generator().manual_seed(0))
    >>> tuple(out.recon.shape), tuple(out.z.shape)
    ((4, 1, 32, 32), (4, 2))
    """

    def __init__(self, *, channels: int = 1, latent_dim: int = 2) -> None:
        super().__init__()
        _check_channels(channels)
        _check_latent_dim(latent_dim)
        self.channels = channels
        self.latent_dim = latent_dim
        enc_in = (channels, *_ENC_CHANNELS[:-1])
        self.encoder_blocks = nn.ModuleList(
            _enc_block(c_in, c_out) for c_in, c_out in zip(enc_in, _ENC_CHANNELS, strict=True)
        )
        flat = _ENC_CHANNELS[-1] * 2 * 2
        self.fc_mu = nn.Linear(flat, latent_dim)
        self.fc_logvar = nn.Linear(flat, latent_dim)
        self.decoder_input = nn.Sequential(
            nn.Linear(latent_dim, flat),
            nn.BatchNorm1d(flat),
            nn.LeakyReLU(_NEG_SLOPE),
        )
        dec_in = (_ENC_CHANNELS[-1], *_DEC_CHANNELS[:-1])
        self.decoder_blocks = nn.ModuleList(
            _dec_block(c_in, c_out) for c_in, c_out in zip(dec_in, _DEC_CHANNELS, strict=True)
        )
        self.decoder_output = nn.ConvTranspose2d(
            _DEC_CHANNELS[-1], channels, kernel_size=4, stride=2, padding=1
        )

    # -- pieces -------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        expected = (self.channels, IMAGE_SIZE, IMAGE_SIZE)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"The input of ConvVAE must have shape (N, {', '.join(map(str, expected))}). "
                f"Got {tuple(x.shape)}."
            )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each of shape (N, K), for images x (N, C, 32, 32)."""
        self._check_input(x)
        h = x
        for block in self.encoder_blocks:
            h = block(h)
        h = h.flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)

    def sample(
        self,
        mu: torch.Tensor,
        logvar: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        eps: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Reparametrised sample ``z = mu + exp(logvar / 2) * eps``.

        ``eps`` is given, or drawn from ``generator`` on the generator's device (the default
        generator of ``mu``'s device when ``generator`` is None) and moved to ``mu``'s device,
        so a CPU generator gives the same ``eps`` whatever device the model is on.
        """
        if eps is None:
            device = generator.device if generator is not None else mu.device
            eps = torch.randn(mu.shape, generator=generator, device=device, dtype=mu.dtype)
        elif eps.shape != mu.shape:
            raise ValueError(
                f"The `eps` parameter must have the shape of mu, {tuple(mu.shape)}. "
                f"Got {tuple(eps.shape)}."
            )
        return mu + torch.exp(0.5 * logvar) * eps.to(device=mu.device, dtype=mu.dtype)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid decoder output, shape (N, C, 32, 32), for latent codes z (N, K)."""
        h = self.decoder_input(z).view(-1, _ENC_CHANNELS[-1], 2, 2)
        for block in self.decoder_blocks:
            h = block(h)
        return self.decoder_output(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoded images ``sigmoid(decode_logits(z))`` of shape (N, C, 32, 32)."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> VAEOutput:
        """Encode, sample and decode a batch.

        Parameters
        ----------
        x : torch.Tensor, shape (N, C, 32, 32)
            Images with pixels in [0, 1].
        generator : torch.Generator, optional
            Source of the reparametrisation noise (default: the global generator).

        Returns
        -------
        VAEOutput
            ``recon``, ``logits``, ``mu``, ``logvar`` and ``z``.
        """
        mu, logvar = self.encode(x)
        z = self.sample(mu, logvar, generator=generator)
        logits = self.decode_logits(z)
        return VAEOutput(recon=torch.sigmoid(logits), logits=logits, mu=mu, logvar=logvar, z=z)

    # -- the analysed representations ----------------------------------------------------------
    def representations(
        self,
        x: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        eps: torch.Tensor | None = None,
        layers: Iterable[str] | None = None,
    ) -> dict[str, torch.Tensor]:
        """The flattened representations l0..l10 (and ``mu``) of a batch.

        Runs in the module's current mode: call ``model.eval()`` first for the paper's setting
        (BatchNorm running statistics), and wrap in ``torch.no_grad()``.

        Parameters
        ----------
        x : torch.Tensor, shape (N, C, 32, 32)
            Input images, pixels in [0, 1].
        generator : torch.Generator, optional
            Source of the bottleneck noise ``eps``; pass a freshly seeded generator for
            reproducible l5..l10.
        eps : torch.Tensor, shape (N, K), optional
            The bottleneck noise itself (overrides ``generator``).
        layers : iterable of str, optional
            Names to return, among `LAYER_NAMES` and ``"mu"`` (default: all twelve).

        Returns
        -------
        dict[str, torch.Tensor]
            Name -> tensor of shape (N, size), sizes as in `layer_sizes`. The decoder
            taps l6..l10 are computed from the sampled ``z`` (l5).

        Raises
        ------
        ValueError
            For an unknown layer name or an input of the wrong shape.
        """
        wanted = _validate_layers(layers)
        self._check_input(x)
        taps: dict[str, torch.Tensor] = {"l0": x.flatten(1)}
        h = x
        for i, block in enumerate(self.encoder_blocks, start=1):
            h = block(h)
            taps[LAYER_NAMES[i]] = h.flatten(1)
        h = h.flatten(1)
        mu, logvar = self.fc_mu(h), self.fc_logvar(h)
        taps[MU_NAME] = mu
        z = self.sample(mu, logvar, generator=generator, eps=eps)
        taps["l5"] = z
        needs_decoder = any(name in wanted for name in LAYER_NAMES[LATENT_LAYER + 1 :])
        if needs_decoder:
            h = self.decoder_input(z)
            taps["l6"] = h
            h = h.view(-1, _ENC_CHANNELS[-1], 2, 2)
            for i, block in enumerate(self.decoder_blocks, start=7):
                h = block(h)
                taps[LAYER_NAMES[i]] = h.flatten(1)
            taps["l10"] = torch.sigmoid(self.decoder_output(h)).flatten(1)
        return {name: taps[name] for name in wanted}


def _validate_layers(layers: Iterable[str] | None) -> tuple[str, ...]:
    allowed = (*LAYER_NAMES, MU_NAME)
    if layers is None:
        return allowed
    wanted = tuple(layers)
    unknown = [name for name in wanted if name not in allowed]
    if unknown:
        raise ValueError(
            f"The `layers` parameter must name layers among {', '.join(allowed)}. "
            f"Got unknown {unknown!r}."
        )
    return wanted


def compute_representations(
    model: ConvVAE,
    images: np.ndarray | torch.Tensor,
    *,
    seed: int = 0,
    layers: Sequence[str] | None = None,
    batch_size: int = 500,
    device: str | torch.device | None = None,
) -> dict[str, np.ndarray]:
    """Representations l0..l10 (and ``mu``) of a whole image set, in eval mode, as numpy.

    Parameters
    ----------
    model : ConvVAE
        The network; it is put in eval mode (BatchNorm running statistics) for the call and
        its previous mode is restored afterwards.
    images : array, shape (N, C, 32, 32)
        Images with pixels in [0, 1] (float32 after conversion).
    seed : int
        Seed of the CPU generator drawing the bottleneck noise ``eps`` of shape (N, K) for the
        whole set at once, so the result depends neither on evaluation order, nor on
        ``batch_size``, nor on the device. Use one seed per checkpoint, as the study does.
    layers : sequence of str, optional
        Names among `LAYER_NAMES` and ``"mu"`` (default: all).
    batch_size : int
        Images per forward pass. In eval mode each image is processed independently, so
        this changes memory use only (and at most float round-off).
    device : str or torch.device, optional
        Where to run (default: the model's device).

    Returns
    -------
    dict[str, numpy.ndarray]
        Name -> float32 array of shape (N, size).

    Examples
    --------
    >>> import numpy as np
    >>> model = ConvVAE(channels=1, latent_dim=2)
    >>> reps = compute_representations(model, np.zeros((3, 1, 32, 32), np.float32), layers=["l5"])
    >>> reps["l5"].shape
    (3, 2)
    """
    batch_size = check_int("batch_size", batch_size, "compute_representations", low=1)
    wanted = _validate_layers(layers)
    if device is None:
        device = next(model.parameters()).device
    x_all = torch.as_tensor(np.asarray(images, dtype=np.float32))
    eps_all = torch.randn(
        (x_all.shape[0], model.latent_dim), generator=torch.Generator().manual_seed(int(seed))
    )
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in wanted}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, x_all.shape[0], batch_size):
                x = x_all[start : start + batch_size].to(device)
                eps = eps_all[start : start + batch_size]
                taps = model.representations(x, eps=eps, layers=wanted)
                for name in wanted:
                    chunks[name].append(taps[name].float().cpu().numpy())
    finally:
        model.train(was_training)
    sizes = layer_sizes(model.channels, model.latent_dim)
    return {
        name: np.concatenate(parts) if parts else np.zeros((0, sizes[name]), np.float32)
        for name, parts in chunks.items()
    }
