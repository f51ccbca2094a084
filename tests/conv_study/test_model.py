"""The conv VAE: architecture, parameter counts, layer taps, noise reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conv_study.constants import LAYER_NAMES  # noqa: E402
from conv_study.model import ConvVAE, compute_representations, layer_sizes  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("channels", "expected"), [(1, 3_422_597), (3, 3_426_695)])
def test_parameter_count_matches_paper(channels, expected):
    assert n_params(ConvVAE(channels=channels, latent_dim=2)) == expected


def test_parameter_count_grows_by_3074_per_latent_dim():
    assert n_params(ConvVAE(channels=1, latent_dim=16)) == 3_422_597 + 14 * 3074


def test_architecture_matches_the_paper():
    # The table of docs/conv-study-setup.md, "The network".
    model = ConvVAE(channels=3, latent_dim=5)
    convs = [m for m in model.encoder_blocks.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256]
    for conv in convs:
        assert (conv.kernel_size, conv.stride, conv.padding) == ((4, 4), (2, 2), (1, 1))
    assert all(c.bias is not None for c in convs)
    leaky = [m for m in model.modules() if isinstance(m, torch.nn.LeakyReLU)]
    assert len(leaky) == 8 and all(m.negative_slope == 0.2 for m in leaky)
    tconvs = [m for m in model.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [t.out_channels for t in tconvs] == [256, 128, 64, 3]
    assert isinstance(model.decoder_input[1], torch.nn.BatchNorm1d)
    assert model.fc_mu.in_features == model.fc_logvar.in_features == 1024


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("latent_dim", [2, 128])
def test_tap_shapes(channels, latent_dim):
    model = ConvVAE(channels=channels, latent_dim=latent_dim).eval()
    x = torch.rand(3, channels, 32, 32)
    with torch.no_grad():
        taps = model.representations(x, generator=torch.Generator().manual_seed(0))
    sizes = layer_sizes(channels, latent_dim)
    assert list(taps) == [*LAYER_NAMES, "mu"]
    for name, tap in taps.items():
        assert tuple(tap.shape) == (3, sizes[name]), name
    if channels == 3:
        expected = [3072, 16384, 8192, 4096, 1024, latent_dim, 1024, 4096, 8192, 16384, 3072]
        assert [sizes[name] for name in LAYER_NAMES] == expected


def test_taps_agree_with_forward():
    model = ConvVAE(channels=1, latent_dim=4).eval()
    x = torch.rand(5, 1, 32, 32)
    with torch.no_grad():
        out = model(x, generator=torch.Generator().manual_seed(3))
        taps = model.representations(x, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(taps["l0"], x.flatten(1), rtol=0, atol=0)
    torch.testing.assert_close(taps["mu"], out.mu, rtol=0, atol=0)
    torch.testing.assert_close(taps["l5"], out.z, rtol=0, atol=0)
    torch.testing.assert_close(taps["l10"], out.recon.flatten(1), rtol=0, atol=0)
    # Leaky-ReLU outputs are negative only at slope 0.2: l1 cannot be a plain ReLU output.
    assert (taps["l1"] < 0).any()
    assert ((taps["l10"] > 0) & (taps["l10"] < 1)).all()


def test_noise_comes_from_given_generator():
    model = ConvVAE(channels=1, latent_dim=8).eval()
    x = torch.rand(4, 1, 32, 32)
    with torch.no_grad():
        a = model.representations(x, generator=torch.Generator().manual_seed(1), layers=["l5"])
        b = model.representations(x, generator=torch.Generator().manual_seed(1), layers=["l5"])
        c = model.representations(x, generator=torch.Generator().manual_seed(2), layers=["l5"])
    assert torch.equal(a["l5"], b["l5"])
    assert not torch.equal(a["l5"], c["l5"])


def test_layer_subset_and_unknown_layer():
    model = ConvVAE(channels=1, latent_dim=2).eval()
    with torch.no_grad():
        taps = model.representations(torch.rand(2, 1, 32, 32), layers=["l2", "mu"])
    assert list(taps) == ["l2", "mu"]
    with pytest.raises(ValueError, match="l11"):
        model.representations(torch.rand(2, 1, 32, 32), layers=["l11"])


def test_compute_representations_is_independent_of_batching():
    model = ConvVAE(channels=1, latent_dim=3)
    images = np.random.default_rng(0).random((7, 1, 32, 32), dtype=np.float32)
    a = compute_representations(model, images, seed=5, batch_size=7)
    b = compute_representations(model, images, seed=5, batch_size=3)
    assert model.training, "the previous mode must be restored"
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == np.float32
        # eval mode: images are independent, so batching changes at most float32 round-off.
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"channels": 2}, "channels"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"latent_dim": 2.0}, "latent_dim"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConvVAE(**kwargs)


def test_wrong_input_shape():
    with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\)"):
        ConvVAE(channels=1).encode(torch.rand(2, 1, 28, 28))
