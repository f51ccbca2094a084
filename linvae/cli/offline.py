"""``linvae offline``: the linear VAE trained on a fixed data set (finite data).

Prints strict JSON: the global minimum of the regularized empirical loss as N -> infinity
(order parameters, eps_g, rate and distortion, collapse threshold beta_c, plateau end alpha_c)
and, with ``--simulate``, the mean and spread over seeds of the same quantities after training
at finite N. The finite-data page (docs/offline.md) explains them. As in every CLI module, the
computation (numba) is imported inside the command function.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from linvae.utils.cli import ListOption, print_json
from linvae.utils.process import check_memory

_METHODS = ("adam", "gd", "sgd")


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser(
        "offline",
        help="finite data: the global minimum at n = alpha N samples (and training, --simulate)",
        description=(
            "The linear VAE (M = M* = 1) trained to convergence on a fixed set of n = alpha N "
            "samples. Theory: the global minimum of the summed loss with penalty "
            "(lam/2)(|W|^2 + |V|^2) as N -> infinity. --simulate also trains at finite N.\n"
            "  linvae offline --alpha 2 --beta 1 --lam 1\n"
            "  linvae offline --alpha 0.4,2,5.2 --lam 1 --simulate --N 250 --n-seeds 5"
        ),
    )
    g = p.add_argument_group("problem")
    g.add_argument(
        "--alpha",
        action=ListOption,
        item=float,
        scalar=True,
        required=True,
        help="samples per dimension n/N, or a list: 0.4,2,5.2 or 0.4 2 5.2 (inf: the population)",
    )
    g.add_argument("--rho", type=float, default=1.0, help="signal strength")
    g.add_argument("--eta", type=float, default=1.0, help="noise strength")
    g.add_argument("--beta", type=float, default=1.0, help="KL weight")
    g.add_argument("--lam", type=float, default=0.0, help="L2 penalty of the summed loss")
    s = p.add_argument_group("simulation")
    s.add_argument("--simulate", action="store_true", help="also train at finite N")
    s.add_argument("--N", type=int, default=250, help="input dimension")
    s.add_argument(
        "--n-seeds",
        "--seeds",
        type=int,
        default=5,
        help="data sets (and initializations) per alpha (make_datasets' n_seeds)",
    )
    s.add_argument("--seed", type=int, default=0, help="root seed")
    s.add_argument(
        "--method",
        choices=_METHODS,
        help="adam (default): the authors' full-batch Adam; gd: gradient descent to a "
        "stationary point; sgd: multi-epoch minibatch SGD",
    )
    s.add_argument("--epochs", type=int, help="epochs (default: adam 15000, sgd 50)")
    s.add_argument("--lr", type=float, help="learning rate of adam (default 1e-3) or gd (auto)")
    s.add_argument("--tau", type=float, default=0.05, help="learning rate of sgd")
    s.add_argument("--batch-size", type=int, default=1, help="minibatch size of sgd")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_offline)


def _trainer(args):
    # numba: loaded only when --simulate trains.
    from linvae.offline.train import Adam, GradientDescent, MinibatchSGD

    method = args.method or "adam"
    if method != "sgd" and (args.tau != 0.05 or args.batch_size != 1):
        raise ValueError("--tau and --batch-size belong to --method sgd; drop them or add it.")
    if method == "adam":
        kw = (
            {}
            if args.epochs is None
            else {"epochs": args.epochs, "record_every": 1, "chunk": min(args.epochs, 500)}
        )
        return Adam(**kw, **({} if args.lr is None else {"lr": args.lr}))
    if args.epochs is not None and method == "gd":
        raise ValueError("--epochs does not apply to --method gd (it runs to a stationary point).")
    if method == "gd":
        return GradientDescent(lr=args.lr)
    if args.lr is not None:
        raise ValueError("--method sgd takes its learning rate from --tau, not --lr.")
    kw = {} if args.epochs is None else {"epochs": args.epochs}
    return MinibatchSGD(tau=args.tau, batch_size=args.batch_size, **kw)


def run_offline(args: argparse.Namespace) -> int:
    from linvae.offline.spectrum import bbp_threshold
    from linvae.offline.theory import collapse_threshold, plateau_end, solve_offline

    training = {"--method": args.method, "--epochs": args.epochs, "--lr": args.lr}
    given = [name for name, value in training.items() if value is not None]
    if given and not args.simulate:
        raise ValueError(f"{', '.join(given)} set the training of --simulate; add --simulate.")
    alphas = np.atleast_1d(np.asarray(args.alpha, dtype=np.float64))
    if not np.all(alphas > 0):  # NaN fails too
        bad = ", ".join(f"{a:g}" for a in alphas if not a > 0)
        raise ValueError(f"--alpha must be > 0 (samples per dimension n/N). Got {bad}.")
    scalar = isinstance(args.alpha, float)
    kw = {"rho": args.rho, "eta": args.eta}
    sol = solve_offline(
        alphas if not scalar else float(alphas[0]), beta=args.beta, lam=args.lam, **kw
    )
    theory = sol.as_dict()
    theory["beta_c"] = collapse_threshold(alphas if not scalar else alphas[0], lam=args.lam, **kw)
    out = {
        "theory": theory,
        "alpha_c": plateau_end(args.beta, lam=args.lam, **kw),
        "alpha_bbp": bbp_threshold(args.rho, args.eta),
        "conventions": {
            "lam": "penalty (lam/2)(|W|^2+|V|^2) on the summed loss: lam/alpha per sample",
            "distortion": "E||x - W z/sqrt(N)||^2 - (N-1) eta (test); training: rho + eta - "
            "2 s R + Q (s E + D)",
        },
    }
    if args.simulate:
        from linvae.offline.train import TrainingDiverged, make_datasets, train_offline

        if args.N < 2 or args.n_seeds < 1:
            raise ValueError(
                f"--N must be at least 2 and --n-seeds at least 1. Got --N {args.N}, "
                f"--n-seeds {args.n_seeds}."
            )
        if not all(math.isfinite(a) for a in alphas):
            raise ValueError("--simulate needs finite --alpha values (inf is the population).")
        # Every seed's alpha N x N samples, and an N x N covariance per stack (with copies).
        n_samples = float(np.sum(np.ceil(alphas * args.N)))
        check_memory(
            8.0 * args.n_seeds * args.N * (2 * n_samples + 3 * args.N * alphas.size),
            f"--simulate with --N {args.N} --n-seeds {args.n_seeds} and --alpha up to "
            f"{alphas.max():g}",
            fix="Lower --N, --n-seeds or --alpha.",
        )
        method = _trainer(args)
        data = make_datasets(
            args.N, alphas, rho=args.rho, eta=args.eta, n_seeds=args.n_seeds, rng=args.seed
        )
        try:
            run = train_offline(
                data, beta=args.beta, lam=args.lam, method=method, progress=not args.quiet
            )
        except TrainingDiverged as err:
            print(f"linvae offline: error: {err}", file=sys.stderr)
            return 1
        summary = run.summary()
        out["simulation"] = {
            "N": args.N,
            "n_seeds": args.n_seeds,
            "seed": args.seed,
            "method": run.method,
            "alpha": summary["alpha"],
            "mean": summary["mean"],
            "std": summary["std"],
            "theory_finite_N_mean": summary["theory_sample_mean"],
            "wall_time_s": run.wall_time_s,
        }
    print_json(out)
    return 0
