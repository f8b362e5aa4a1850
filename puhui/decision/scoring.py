"""Scores: what the credit-risk models say about one business, or about a whole frame of them.

Why a protocol: the policy only needs a calibrated probability of default (`pd`), the champion's
points (`score`), the challenger's PD for monitoring (`pd_challenger`), which model versions
said so, and the champion's reason codes for a decline notice.  `ModelScorer` serves them from
the registered models: the WoE scorecard (the champion, readable bin by bin) and the calibrated
LightGBM model (the challenger, whose PD is recorded beside every decision but never decides).

Features arrive as the connectors' mapping (``None`` = missing).  Each model gets a frame in
its own column order; a numeric input that is missing, not a number or not finite is NaN, which
both models score as missing (the scorecard's missing bin, LightGBM's missing branch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
import polars as pl

from puhui.decision import values
from puhui.decision.errors import InvalidScorer
from puhui.errors import PuhuiError
from puhui.risk.reasons import ReasonCode

if TYPE_CHECKING:
    import pandas as pd

    from puhui.risk.model_registry import ModelRegistry

CHAMPION, CHALLENGER = "champion", "challenger"
SCORE_COLUMNS = ("pd", "score", "pd_challenger")


@dataclass(frozen=True)
class ModelScores:
    """One business's scores; `model_versions` maps ``champion``/``challenger`` to versions."""

    pd: float | None
    score: float | None
    pd_challenger: float | None = None
    model_versions: dict[str, str] = field(default_factory=dict)
    reason_codes: tuple[ReasonCode, ...] = ()

    def __post_init__(self) -> None:
        codes = tuple(self.reason_codes)
        if not all(isinstance(r, ReasonCode) for r in codes):
            raise InvalidScorer("reason_codes must be puhui.risk.reasons.ReasonCode records")
        if not isinstance(self.model_versions, Mapping):
            raise InvalidScorer("model_versions must map model names to versions")
        object.__setattr__(self, "reason_codes", codes)
        object.__setattr__(self, "model_versions", dict(self.model_versions))

    def to_dict(self) -> dict[str, Any]:
        return {"pd": self.pd, "score": self.score, "pd_challenger": self.pd_challenger,
                "model_versions": dict(self.model_versions),
                "reason_codes": [r.to_dict() for r in self.reason_codes]}


@runtime_checkable
class Scorer(Protocol):
    """Anything that scores features, one business (`score`) or a frame (`score_frame`, which
    adds the `SCORE_COLUMNS`)."""

    def score(self, features: Mapping[str, float | None]) -> ModelScores: ...

    def score_frame(self, frame: pl.DataFrame) -> pl.DataFrame: ...


class ModelScorer:
    """The champion scorecard and, optionally, the challenger gradient-boosting model."""

    def __init__(self, champion: Any, champion_version: str, challenger: Any = None,
                 challenger_version: str | None = None, *, top_reasons: int = 4) -> None:
        from puhui.risk.gbm import GradientBoostingModel
        from puhui.risk.scorecard import Scorecard

        if not isinstance(champion, Scorecard) or not hasattr(champion, "characteristics_"):
            raise InvalidScorer("the champion must be a fitted Scorecard")
        if challenger is not None and (not isinstance(challenger, GradientBoostingModel)
                                       or not hasattr(challenger, "booster_")):
            raise InvalidScorer("the challenger must be a fitted GradientBoostingModel")
        for what, version in (("champion", champion_version), ("challenger", challenger_version)):
            if (what == "champion" or challenger is not None) and \
                    (not isinstance(version, str) or not version):
                raise InvalidScorer(f"the {what} needs its registry version")
        if isinstance(top_reasons, bool) or not isinstance(top_reasons, int) or top_reasons < 1:
            raise InvalidScorer(f"top_reasons must be a positive int, got {top_reasons!r}")
        self.champion, self.challenger = champion, challenger
        self.model_versions = {CHAMPION: champion_version}
        if challenger is not None:
            self.model_versions[CHALLENGER] = str(challenger_version)
        self.top_reasons = top_reasons

    @classmethod
    def from_registry(cls, registry: "ModelRegistry", champion: str,
                      challenger: str | None = None, *, top_reasons: int = 4) -> "ModelScorer":
        """Load the models by version (the registry refuses a tampered artefact)."""
        return cls(registry.load(champion), champion,
                   None if challenger is None else registry.load(challenger), challenger,
                   top_reasons=top_reasons)

    def _categorical(self) -> frozenset[str]:
        """The inputs either model reads as categories (worked out once)."""
        found = self.__dict__.get("_categorical_inputs")
        if found is None:
            names = set(getattr(self.champion, "categories_", {}))
            names |= {c.name for c in getattr(self.champion, "characteristics_", ())
                      if c.kind == "categorical"}
            if self.challenger is not None:
                names |= set(getattr(self.challenger, "categories_", {}))
            found = self.__dict__["_categorical_inputs"] = frozenset(names)
        return found

    def _inputs(self) -> tuple[list[str], list[str]]:
        """`features` split into numeric inputs and categorical ones (worked out once)."""
        found = self.__dict__.get("_split_inputs")
        if found is None:
            categorical = self._categorical()
            found = self.__dict__["_split_inputs"] = (
                [name for name in self.features if name not in categorical],
                [name for name in self.features if name in categorical])
        return found

    @property
    def features(self) -> list[str]:
        """Every input the models read, the champion's first, each once."""
        names = [str(c) for c in self.champion.feature_names_in_]
        if self.challenger is not None:
            names += [str(c) for c in self.challenger.feature_names_in_]
        return list(dict.fromkeys(names))

    def score(self, features: Mapping[str, float | None]) -> ModelScores:
        """One applicant, through the models' one-row paths (`Scorecard.assess`,
        `GradientBoostingModel.pd_of`): the same numbers as `score_frame`, in a fraction of
        the time, because the live decision has a latency budget.  It is `score_many` of one
        row, raising what that puts in the row's place."""
        found = self.score_many([features])[0]
        if isinstance(found, PuhuiError):
            raise found
        return found

    def score_many(self, features_list: Sequence[Mapping[str, float | None]]
                   ) -> list[ModelScores | PuhuiError]:
        """`score` of each mapping, the same numbers bit for bit, the models run once over all
        of them (`Scorecard.assess_many`, `GradientBoostingModel.pd_many`): what a batch of
        thousands of borrowers needs.  Where `score` would raise a `PuhuiError` for a row,
        that error is returned in the row's place and the other rows are scored."""
        names, texts = self._inputs()
        out: list[ModelScores | PuhuiError | None] = [None] * len(features_list)
        rows, where = [], []
        for i, features in enumerate(features_list):
            if not isinstance(features, Mapping):
                out[i] = InvalidScorer(f"features must be a mapping, got "
                                       f"{type(features).__name__}")
                continue
            try:
                get = features.get
                # a finite float is read as itself (`values.read`), without the call
                row = {name: v if type(v) is float and v - v == 0.0 else _plain_input(v, False)
                       for name, v in zip(names, map(get, names))}
                row.update((name, _plain_input(get(name), True)) for name in texts)
                rows.append(row)
            except PuhuiError as exc:
                out[i] = exc
                continue
            where.append(i)
        try:
            scored: list[ModelScores | PuhuiError] = list(self._scores(rows))
        except PuhuiError:  # a row the models refuse: each row on its own, to know which
            scored = []
            for row in rows:
                try:
                    scored += self._scores([row])
                except PuhuiError as exc:
                    scored.append(exc)
        for i, found in zip(where, scored):
            out[i] = found
        return out  # type: ignore[return-value]

    def _scores(self, rows: list[dict[str, Any]]) -> list[ModelScores]:
        """The models' scores of rows already read as they expect them (`_plain_input`)."""
        champion = self.champion.assess_many(rows, top=self.top_reasons)
        challenger = ([None] * len(rows) if self.challenger is None
                      else self.challenger.pd_many(rows).tolist())
        return [ModelScores(c.pd, c.points, p, dict(self.model_versions), c.reasons)
                for c, p in zip(champion, challenger)]

    def score_frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`frame` with ``pd``, ``score`` and ``pd_challenger`` (null without a challenger)."""
        if not isinstance(frame, pl.DataFrame):
            raise InvalidScorer(f"frame must be a polars DataFrame, got {type(frame).__name__}")
        n = frame.height
        if n == 0:
            return frame.with_columns(pl.lit(None, dtype=pl.Float64).alias(c)
                                      for c in SCORE_COLUMNS)

        def numeric(name: str) -> np.ndarray:
            if name not in frame.columns or not frame.schema[name].is_numeric():
                return np.full(n, np.nan)
            a = frame[name].cast(pl.Float64).to_numpy()
            return np.where(np.isfinite(a), a, np.nan)

        raw = {name: (frame[name].to_list() if name in frame.columns else [None] * n)
               for name in self.features}
        X = self._input(self.champion, numeric, raw)
        scored = {"pd": self.champion.predict_proba(X)[:, 1], "score": self.champion.score(X)}
        if self.challenger is not None:
            Xc = self._input(self.challenger, numeric, raw)
            scored["pd_challenger"] = self.challenger.predict_proba(Xc)[:, 1]
        else:
            scored["pd_challenger"] = np.full(n, np.nan)
        return frame.with_columns(
            pl.Series(c, np.asarray(scored[c], dtype=np.float64)).fill_nan(None)
            for c in SCORE_COLUMNS)

    @staticmethod
    def _input(model: Any, numeric: Any, raw: Mapping[str, list[Any]]) -> "pd.DataFrame":
        """The frame `model` expects, in its own column order: categorical inputs as given
        (text, or None), every other input as float64 with NaN for missing."""
        import pandas as pd

        categorical = set(getattr(model, "categories_", {}))
        for char in getattr(model, "characteristics_", ()):
            if char.kind == "categorical":
                categorical.add(char.name)
        columns = {}
        for name in (str(c) for c in model.feature_names_in_):
            if name in categorical:
                columns[name] = pd.Series([v if isinstance(v, str) else None for v in raw[name]],
                                          dtype=object)
            else:
                columns[name] = pd.Series(numeric(name), dtype="float64")
        return pd.DataFrame(columns)


def _plain_input(value: Any, categorical: bool) -> Any:
    """A feature value as the models read it: a categorical input's text (anything else is
    missing), or a number (`values.read` decides what counts as one; anything else is missing)."""
    if categorical:
        return value if isinstance(value, str) else None
    return values.read(value, "number")
