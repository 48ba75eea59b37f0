"""Long f32 sums in compiled code: time and accuracy (the f64 sum of the
same f32 values is the oracle) of a sum over 10^7 values and of row and
column sums of a 4096 x 4096 matrix, with NumPy's pairwise sum for
reference. Run: KILN_BUILD_DIR=build /usr/bin/python3 bench/bench_long_sums.py
(see bench/README.md, "Long f32 sums")."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("KILN_BUILD_DIR", "build"), "python_packages"))

import numpy as np, kiln, time
rng=np.random.default_rng(0)
y=rng.uniform(0,1,10_000_000).astype(np.float32); yt=kiln.constant(y)
z=rng.uniform(0,1,(4096,4096)).astype(np.float32); zt=kiln.constant(z)
f=kiln.function(lambda t: kiln.reduce_sum(t)); g=kiln.function(lambda t: kiln.reduce_sum(t, axis=1)); h=kiln.function(lambda t: kiln.reduce_sum(t, axis=0))
for name, fn, arg, ref in [("sum 1e7", f, yt, y.astype(np.float64).sum()), ("rows 4096x4096", g, zt, z.astype(np.float64).sum(1)), ("cols 4096x4096", h, zt, z.astype(np.float64).sum(0))]:
    fn(arg)
    best=1e9
    for _ in range(15):
        t=time.perf_counter(); r=fn(arg).numpy(); best=min(best,time.perf_counter()-t)
    print(f"{name}: {best*1e3:.2f} ms  max rel err {np.max(np.abs(r-ref)/np.abs(ref)):.2e}")
t=time.perf_counter(); [y.sum() for _ in range(5)]; print("numpy sum 1e7", (time.perf_counter()-t)/5*1e3, "ms")
