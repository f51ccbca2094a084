"""The geometry of a linear VAE's representations: measured on points, predicted from a law.

A `Geometry` holds the 2NN IDs of some representations and the information imbalance between
every ordered pair. `measure_geometry` computes it on the points themselves (one screened Gram
per representation, `conv_study.estimators.layer_geometry`); `predict_geometry` computes it on
independent draws of the Gaussian law that the order parameters fix
(`conv_study.linear.law.RepresentationLaw`) and averages them, keeping the spread of one
estimate. `conv_study.linear.study.linear_geometry` does both along an SGD run. The page
"Geometry of the linear VAE" (docs/linear-geometry.md) has the derivation.

Symbols
-------
L            number of representations
n            points per estimate (``n_points``)
R            independent draws of the law per prediction (``repeats``)
Delta(a->b)  information imbalance from representation a to representation b
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from conv_study.estimators import layer_geometry
from conv_study.linear.law import RepresentationLaw, seed_sequence
from linvae.utils.io import to_jsonable
from linvae.utils.validation import check_int

__all__ = ["Geometry", "measure_geometry", "predict_geometry"]


@dataclass(frozen=True)
class Geometry:
    """2NN IDs of some representations and the information imbalances between them.

    Attributes
    ----------
    names : tuple of str
        The representations, in order.
    id : ndarray, shape (L,)
        2NN ID per representation (a mean over draws for a prediction).
    imbalance : ndarray, shape (L, L)
        ``imbalance[a, b] = Delta(a -> b)``; nan on the diagonal.
    id_std, imbalance_std : ndarray, shapes (L,) and (L, L)
        Standard deviation over the draws of a prediction: the sampling spread of one
        estimate at this ``n_points``; 0 for a measurement (one draw).
    n_points : int
        Points per estimate.
    repeats : int
        Draws averaged (1 for a measurement).
    """

    names: tuple[str, ...]
    id: np.ndarray
    imbalance: np.ndarray
    id_std: np.ndarray
    imbalance_std: np.ndarray
    n_points: int
    repeats: int

    def delta(self, a: str, b: str) -> float:
        """Delta(a -> b)."""
        return float(self.imbalance[self.names.index(a), self.names.index(b)])

    def delta_std(self, a: str, b: str) -> float:
        """The spread of Delta(a -> b) over the draws."""
        return float(self.imbalance_std[self.names.index(a), self.names.index(b)])

    def id_of(self, name: str) -> float:
        """The 2NN ID of one representation."""
        return float(self.id[self.names.index(name)])

    def to_json(self) -> dict[str, Any]:
        """``{"id": {name: value}, "imbalance": {"a->b": value}, ...}``, nan as null."""
        L = len(self.names)
        pairs = [(a, b) for a in range(L) for b in range(L) if a != b]
        key = [f"{self.names[a]}->{self.names[b]}" for a, b in pairs]
        out = {
            "id": dict(zip(self.names, self.id, strict=True)),
            "imbalance": {k: self.imbalance[a, b] for k, (a, b) in zip(key, pairs, strict=True)},
            "n_points": self.n_points,
            "repeats": self.repeats,
        }
        if self.repeats > 1:
            out["id_std"] = dict(zip(self.names, self.id_std, strict=True))
            out["imbalance_std"] = {
                k: self.imbalance_std[a, b] for k, (a, b) in zip(key, pairs, strict=True)
            }
        return to_jsonable(out)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Geometry:
        """The `Geometry` that `to_json` wrote (null read back as nan).

        Raises
        ------
        ValueError
            If ``obj`` is not such a mapping (the message names what is missing).
        """
        try:
            names = tuple(obj["id"])
            L = len(names)

            def vector(values: Mapping[str, Any]) -> np.ndarray:
                return np.array([np.nan if values[k] is None else values[k] for k in names])

            def matrix(values: Mapping[str, Any]) -> np.ndarray:
                out = np.full((L, L), np.nan)
                for a in range(L):
                    for b in range(L):
                        value = values[f"{names[a]}->{names[b]}"] if a != b else None
                        out[a, b] = np.nan if value is None else value
                return out

            ids, imbalance = vector(obj["id"]), matrix(obj["imbalance"])
            repeats, n_points = int(obj["repeats"]), int(obj["n_points"])
            if repeats > 1:
                id_std, imbalance_std = vector(obj["id_std"]), matrix(obj["imbalance_std"])
            else:  # one draw: no spread, nan where the estimate is nan
                id_std = np.where(np.isnan(ids), np.nan, 0.0)
                imbalance_std = np.where(np.isnan(imbalance), np.nan, 0.0)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"Not a Geometry written by Geometry.to_json: {err!r}.") from None
        return cls(
            names=names,
            id=ids,
            imbalance=imbalance,
            id_std=id_std,
            imbalance_std=imbalance_std,
            n_points=n_points,
            repeats=repeats,
        )


def measure_geometry(representations: Mapping[str, np.ndarray]) -> Geometry:
    """2NN ID of every representation and Delta between every ordered pair (one Gram each).

    Parameters
    ----------
    representations : mapping of name -> array (n, width)
        The same n points in each space.

    Returns
    -------
    Geometry
        ``repeats = 1``, zero spreads. A representation with fewer than 3 distinct points (a
        latent that is exactly 0, as in a law whose d and E have underflowed) has no
        neighbours: its ID and every imbalance from or to it are nan.
    """
    names = tuple(representations)
    arrays = [np.asarray(representations[k]) for k in names]
    L = len(names)
    ok = [i for i, X in enumerate(arrays) if np.unique(X.reshape(len(X), -1), axis=0).shape[0] > 2]
    ids = np.full(L, np.nan)
    imb = np.full((L, L), np.nan)
    n = len(arrays[0])
    if ok:
        geo = layer_geometry([arrays[i] for i in ok], pairs="all" if len(ok) > 1 else ())
        ids[ok] = geo.id
        imb[np.ix_(ok, ok)] = geo.imbalance
        n = geo.n_points
    return Geometry(
        names=names,
        id=ids,
        imbalance=imb,
        id_std=np.where(np.isnan(ids), np.nan, 0.0),
        imbalance_std=np.where(np.isnan(imb), np.nan, 0.0),
        n_points=n,
        repeats=1,
    )


def predict_geometry(
    law: RepresentationLaw, n_points: int, *, repeats: int = 8, rng=None
) -> Geometry:
    """Predicted IDs and imbalances: the estimators on draws of the Gaussian law.

    Each of ``repeats`` independent samples of ``n_points`` points from the law of
    (c, mu, z, reconstruction) is measured like the real representations; the result is the
    mean, and the spread over draws is that of a single estimate at this size.

    Parameters
    ----------
    law : RepresentationLaw
        From `conv_study.linear.representation_law`.
    n_points : int
        Points per draw: the size of the measurement to compare with.
    repeats : int
        Independent draws (>= 1).
    rng : int, Generator, SeedSequence or None
        Seed.

    Returns
    -------
    Geometry
        Names `conv_study.linear.LAW_REPRESENTATIONS`.
    """
    owner = "predict_geometry"
    n_points = check_int("n_points", n_points, owner, low=3)
    repeats = check_int("repeats", repeats, owner, low=1)
    seeds = seed_sequence(rng).spawn(repeats)
    draws = [measure_geometry(law.sample(n_points, rng=np.random.default_rng(s))) for s in seeds]
    ids = np.array([g.id for g in draws])
    imbs = np.array([g.imbalance for g in draws])
    ddof = 1 if repeats > 1 else 0
    return Geometry(
        names=draws[0].names,
        id=ids.mean(axis=0),
        imbalance=imbs.mean(axis=0),
        id_std=ids.std(axis=0, ddof=ddof),
        imbalance_std=imbs.std(axis=0, ddof=ddof),
        n_points=n_points,
        repeats=repeats,
    )
