"""Figures of the optimal-protocols page (docs/protocols.md).

Run: ``python docs/figures/protocol_figures.py`` (about 6 CPU-minutes). It writes

* ``protocols-optimal.png``: the optimal protocol of the issue's problem (beta_f = 1.8,
  rho = eta = 1, tau = 0.01, beta in [0.2, 3.6], 64 initial states at N = 200, tol 1e-3) against
  the best tanh and two-level step (`linvae.plot.protocol.plot_protocol`);
* ``protocols-shape.png``: the optimal beta(t) for beta_f = 1.2, 1.8, 2.4 (N = 200) and for
  N = 200, 2000, 20000 (beta_f = 1.8);
* ``protocols.json``: every number quoted on the page (speed-ups, times, switch times).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from linvae import Model
from linvae.analysis.protocol import optimal_protocol
from linvae.plot.protocol import plot_protocol
from linvae.plot.trajectory import save_figure

HERE = Path(__file__).parent
BOUNDS = dict(beta_min=0.2, beta_max=3.6)


def _summary(res) -> dict:
    d = res.as_dict()
    values = np.array(res.schedule.values)
    times = np.array(res.schedule.times)
    # Where the protocol first leaves beta_min: the end of its low-beta arc.
    above = np.flatnonzero(values > BOUNDS["beta_min"] + 0.05)
    d["leaves_beta_min_at"] = float(times[above[0]]) if above.size else None
    d["peak_beta"] = float(values.max())
    return d


def main() -> int:
    out = {}
    runs = {}
    for beta_f in (1.2, 1.8, 2.4):
        res = optimal_protocol(Model(rho=1.0, eta=1.0, beta=beta_f, tau=0.01), **BOUNDS)
        runs[("beta_f", beta_f)] = res
        out[f"beta_f={beta_f:g}"] = _summary(res)
        print(beta_f, res.speedup, res.best_tanh_speedup, res.wall_time_s, flush=True)
    for N in (2000, 20000):
        res = optimal_protocol(Model(rho=1.0, eta=1.0, beta=1.8, tau=0.01), **BOUNDS, N=N)
        runs[("N", N)] = res
        out[f"N={N}"] = _summary(res)
        print(N, res.speedup, res.best_tanh_speedup, res.wall_time_s, flush=True)
    runs[("N", 200)] = runs[("beta_f", 1.8)]
    done_when = runs[("beta_f", 1.8)]
    save_figure(plot_protocol(done_when), HERE / "protocols-optimal.png")

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True, constrained_layout=True)
    for ax, key, values, fmt in ((left, "beta_f", (1.2, 1.8, 2.4), r"$\beta_f$ = {:g}"),
                                 (right, "N", (200, 2000, 20000), "N = {:d}")):  # fmt: skip
        for i, v in enumerate(values):
            res = runs[(key, v)]
            t = np.linspace(0.0, 1.25 * res.schedule.times[-1], 1000)
            ax.plot(t, res.schedule(t), color=f"C{i}",
                    label=fmt.format(v) + f" (speed-up {res.speedup:.2f})")  # fmt: skip
        ax.set_xlabel("t = step / N")
        ax.legend(fontsize=8)
    left.set_ylabel(r"optimal $\beta(t)$")
    left.set_title(r"N = 200, $\tau$ = 0.01", fontsize=9)
    right.set_title(r"$\beta_f$ = 1.8, $\tau$ = 0.01", fontsize=9)
    save_figure(fig, HERE / "protocols-shape.png")
    (HERE / "protocols.json").write_text(json.dumps(out, indent=1, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
