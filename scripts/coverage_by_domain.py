"""Why the packaged model's intervals miss 90 % on some data sets (issue 16): held-out coverage per data
set with the Mondrian class taken three ways.

The packaged recipe (``registry.packaged_config()``) is cross-fitted on OASIS + Emotion6 with grouped
folds (``out_of_fold``, 5 folds, seed 0, as ``emosynth train --cv-folds 5``). Each held-out fold is then
covered by intervals calibrated on the other folds (``conformal.held_out_coverage``, as the card), with the
image's calibration group

* ``packaged``: the data set a logistic regression on the 32 familiarity components assigns it to
  (what the model does today);
* ``full-features``: the same on all standardised backbone features, out-of-fold (C = 0.01);
* ``declared``: the data set the image really comes from (what a user could declare).

    EMOSYNTH_DATA=/work/shared/data .venv/bin/python scripts/coverage_by_domain.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np


def main() -> int:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from emosynth.data import combine, load_datasets
    from emosynth.emotions import DIMENSIONS
    from emosynth.models import Predictor
    from emosynth.models import conformal as C
    from emosynth.models.oof import out_of_fold
    from emosynth.models.registry import packaged_config

    root = Path(os.environ.get("EMOSYNTH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    cfg = packaged_config()
    data, _ = combine(load_datasets(["oasis", "emotion6"], root))
    model = Predictor(cfg)
    feats = model.inputs(data)
    oof = out_of_fold(lambda: Predictor(cfg), data, feats, 5, cfg.seed)
    model.fit_inputs(data, feats)
    P = model.raw_inputs(feats)["P"]
    names = np.asarray(data.dataset_of).astype(str)
    labels = list(dict.fromkeys(names.tolist()))
    y = np.array([labels.index(n) for n in names])
    full = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000))
    groups = {"packaged": C.domain_of(C.fit_domains(P, names), P),
              "full-features": cross_val_predict(full, feats, y, cv=5, method="predict_proba").argmax(1),
              "declared": y}
    report = {"accuracy": {k: float((g == y).mean()) for k, g in groups.items()},
              "base_rate": float(np.bincount(y).max() / len(y)), "coverage": {}}
    for j, dim in enumerate(DIMENSIONS):
        m = data.has(dim)
        res = data.vad[m, j] - oof["vad"][m, j]
        inside = C.held_out_coverage(P[m], oof["distance"][m], res, oof["fold"][m],
                                     {kind: g[m] for kind, g in groups.items()}, len(labels), cfg.coverage)
        for kind, hit in inside.items():
            report["coverage"].setdefault(kind, {})[dim] = {n: round(float(hit[names[m] == n].mean()), 3)
                                                           for n in labels}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
