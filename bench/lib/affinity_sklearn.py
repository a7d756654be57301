# The scikit-learn side of bench/epruner.bench.ts: similarity + AffinityPropagation fit, timed by this
# process around its own loop. argv: DIR with layers.json ([{n, d, preferences}]) and <n>.f32 (row-major
# float32 filters); REPS. Prints JSON: per n, the times (ms) of each repetition, iterations, exemplars.
import json
import sys
import time
import warnings

import numpy as np
from sklearn.cluster import AffinityPropagation
from sklearn.metrics.pairwise import euclidean_distances

d = sys.argv[1]
reps = int(sys.argv[2])
out = []
for layer in json.load(open(f"{d}/layers.json")):
    n, dim = layer["n"], layer["d"]
    x = np.fromfile(f"{d}/{n}.f32", dtype=np.float32).reshape(n, dim)
    prefs = np.array(layer["preferences"])
    times = []
    for r in range(reps + 1):  # the first run warms up
        t0 = time.perf_counter()
        x64 = x.astype(np.float64)
        s = -euclidean_distances(x64, squared=True)
        t1 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ap = AffinityPropagation(
                affinity="precomputed", preference=prefs, damping=0.5, max_iter=200, convergence_iter=15, random_state=0
            ).fit(s)
        t2 = time.perf_counter()
        if r > 0:
            times.append({"similarity": (t1 - t0) * 1e3, "fit": (t2 - t1) * 1e3})
    out.append({"n": n, "times": times, "iterations": int(ap.n_iter_), "exemplars": [int(v) for v in ap.cluster_centers_indices_]})
print(json.dumps(out))
