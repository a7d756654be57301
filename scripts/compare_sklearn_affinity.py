# Dev helper of scripts/compare-sklearn-affinity.ts (never a test dependency): scikit-learn's
# AffinityPropagation on the layers that script writes. Reads DIR/layers.json and DIR/<i>.f32
# (row-major float32 filters) and argv[2], the similarity ("gram" or "direct"); writes DIR/sklearn.json:
# per layer and beta, exemplars and iterations.
# Needs Debian's python3-sklearn (and numpy).
import json
import sys
import warnings

import numpy as np
from sklearn.cluster import AffinityPropagation
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.pairwise import euclidean_distances

d = sys.argv[1]
similarity = sys.argv[2] if len(sys.argv) > 2 else "direct"
layers = json.load(open(f"{d}/layers.json"))
out = []
for i, layer in enumerate(layers):
    x = np.fromfile(f"{d}/{i}.f32", dtype=np.float32).reshape(layer["rows"], layer["cols"]).astype(np.float64)
    if similarity == "gram":
        # What a scikit-learn user computes: the norm trick on a BLAS Gram, float64.
        s = -euclidean_distances(x, squared=True)
    else:
        # s(i, k) = -|x_i - x_k|^2 by direct differences in float64, as prunekit's direct kernel.
        s = -((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    res = []
    for beta, prefs in zip(layer["betas"], layer["preferences"]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)
            ap = AffinityPropagation(
                affinity="precomputed",
                preference=np.array(prefs),
                damping=0.5,
                max_iter=200,
                convergence_iter=15,
                random_state=0,
            ).fit(s.copy())
        res.append({"beta": beta, "exemplars": [int(v) for v in ap.cluster_centers_indices_], "iterations": int(ap.n_iter_)})
    out.append(res)
json.dump(out, open(f"{d}/sklearn.json", "w"))
