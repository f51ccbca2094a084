"""The training recipe as a frozen value: `TrainConfig` (defaults: the paper's).

Torch-free, so that a run directory's settings are read back
(`conv_study.runs.load_run`) without the training machinery; the training loop itself
is `conv_study.train.train`. The recipe is described in the setup page
(docs/conv-study-setup.md, "The training recipe").

Symbols
-------
K : bottleneck dimension (``latent_dim``).
beta : weight of the KL term.
"""

from __future__ import annotations

from dataclasses import dataclass

from conv_study.constants import PAPER_CHECKPOINT_EPOCHS
from linvae.utils.validation import check_int, check_real

__all__ = ["TrainConfig"]


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How to train one conv VAE (defaults: the paper's recipe).

    Parameters
    ----------
    latent_dim : int
        Bottleneck dimension K (paper: 2, 4, 8, 16, 32, 64, 128).
    epochs : int
        Number of training epochs (paper: 200).
    batch_size : int
        Minibatch size (paper: 256). A final minibatch of one image is merged into the
        previous one (BatchNorm cannot train on a single image).
    lr : float
        Adam learning rate (paper: 1e-3).
    weight_decay : float
        Adam's coupled L2 weight decay (paper: 1e-4).
    beta : float
        Weight of the KL term (paper: 1).
    checkpoint_epochs : tuple of int
        Epochs after which to save a checkpoint (0 = untrained). The last epoch is always
        saved, so that every run can be resumed and read back.
    seed : int
        Seeds the initial weights, the data-shuffle generator and the noise generators.
    device : str
        ``"auto"`` (cuda, then mps, then cpu) or a torch device string.
    amp : bool
        Mixed precision (autocast): bfloat16 on the CPU (where it has native bfloat16, such
        as AVX-512 BF16 or AMX) and on CUDA where supported, else float16 with loss scaling
        on CUDA; ignored with a warning elsewhere. Weights, optimizer state, the loss and the
        analysis stay in float32.
    channels_last : bool
        Keep the network and the images in the channels-last memory layout (NHWC), which the
        CPU's oneDNN convolutions run faster; the same arithmetic up to float round-off.
    deterministic : bool
        Use ``torch.use_deterministic_algorithms`` on the CPU during the run (restored after).
    num_threads : int, optional
        torch intra-op threads during the run (restored after); default: torch's setting.

    Raises
    ------
    ValueError
        For values out of range; the message names the parameter.

    Examples
    --------
    >>> TrainConfig(latent_dim=16, epochs=60).saved_epochs
    (0, 1, 2, 5, 10, 20, 50, 60)
    """

    latent_dim: int = 2
    epochs: int = 200
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    beta: float = 1.0
    checkpoint_epochs: tuple[int, ...] = PAPER_CHECKPOINT_EPOCHS
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    channels_last: bool = True
    deterministic: bool = True
    num_threads: int | None = None

    def __post_init__(self) -> None:
        owner = "TrainConfig"
        checked = {
            "latent_dim": check_int("latent_dim", self.latent_dim, owner, low=1),
            "epochs": check_int("epochs", self.epochs, owner, low=0),
            "batch_size": check_int("batch_size", self.batch_size, owner, low=2),
            "lr": check_real("lr", self.lr, owner, low=0.0),
            "weight_decay": check_real(
                "weight_decay", self.weight_decay, owner, low=0.0, low_open=False
            ),
            "beta": check_real("beta", self.beta, owner, low=0.0, low_open=False),
            "seed": check_int("seed", self.seed, owner, low=0),
        }
        if self.num_threads is not None:
            checked["num_threads"] = check_int("num_threads", self.num_threads, owner, low=1)
        epochs = tuple(
            check_int(f"checkpoint_epochs[{i}]", e, owner, low=0)
            for i, e in enumerate(self.checkpoint_epochs)
        )
        checked["checkpoint_epochs"] = tuple(sorted(set(epochs)))
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(
                f"The `device` parameter of {owner} must be 'auto' or a torch device string "
                f"such as 'cpu' or 'cuda:0'. Got {self.device!r}."
            )
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @property
    def saved_epochs(self) -> tuple[int, ...]:
        """The checkpoint epochs of this run: those up to ``epochs``, plus ``epochs``."""
        return tuple(
            sorted({e for e in self.checkpoint_epochs if e <= self.epochs} | {self.epochs})
        )
