"""Batch and fleet throughput, and batch's peak memory against the number of dumps.

    python crates/python/bench/fleet_bench.py --pooldbg target/release/pooldbg --dumps DIR

DIR holds `cargo xtask fixtures --fleet 25 --size 16` output (50 dumps: old/ and new/). Prints one
JSON object: seconds and dumps/s for `batch --jobs 1`, `--jobs 2` and pooldbg.fleet on a LocalCluster
of 2 processes (ratios against --jobs 1, one run), and batch's peak RSS over 10, 50 and 200 dumps
(the 50 paths listed again in turn past 50; each count in a fresh child, ru_maxrss of the children).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

COMMANDS = "info; !vm 1; !poolused"


def dumps_in(d):
    return sorted(str(p) for p in pathlib.Path(d).rglob("*.dmp"))


def batch(exe, paths, jobs, out):
    lst = out + ".list"
    pathlib.Path(lst).write_text("\n".join(paths) + "\n")
    t = time.perf_counter()
    subprocess.run([exe, "batch", "@" + lst, "-c", COMMANDS, "-j", str(jobs), "-o", out, "-q"], check=False)
    return time.perf_counter() - t


def peak_rss_kib(exe, paths, out):
    code = (
        "import resource, subprocess, sys;"
        "subprocess.run(sys.argv[1:], check=False);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    lst = out + ".list"
    pathlib.Path(lst).write_text("\n".join(paths) + "\n")
    r = subprocess.run([sys.executable, "-c", code, exe, "batch", "@" + lst, "-c", COMMANDS, "-j", "2",
                        "-o", out, "-q"], capture_output=True, text=True, check=True)
    return int(r.stdout.split()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pooldbg", required=True)
    ap.add_argument("--dumps", required=True)
    a = ap.parse_args()
    paths = dumps_in(a.dumps)
    if len(paths) < 50:
        sys.exit(f"need >= 50 dumps in {a.dumps}, found {len(paths)}")
    tmp = tempfile.mkdtemp(prefix="pooldbg-fleet-bench-")
    res = {"dumps": len(paths), "commands": COMMANDS}
    j1 = batch(a.pooldbg, paths, 1, os.path.join(tmp, "j1.jsonl"))
    j2 = batch(a.pooldbg, paths, 2, os.path.join(tmp, "j2.jsonl"))
    res["batch_jobs1_s"], res["batch_jobs2_s"] = round(j1, 3), round(j2, 3)
    try:
        from dask.distributed import Client, LocalCluster
        from pooldbg import fleet
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c, \
                Client(c) as client:
            client.run(lambda: __import__("pooldbg"))  # warm the workers' imports
            t = time.perf_counter()
            recs = fleet.analyse_all(paths, client=client)
            res["dask_2proc_s"] = round(time.perf_counter() - t, 3)
            res["dask_failed"] = sum("error" in r for r in recs)
        res["dask_vs_jobs1"] = round(j1 / res["dask_2proc_s"], 2)
    except ImportError as e:
        res["dask"] = f"skipped: {e}"
    res["jobs2_vs_jobs1"] = round(j1 / j2, 2)
    res["dumps_per_s_jobs1"] = round(len(paths) / j1, 1)
    res["peak_rss_kib"] = {n: peak_rss_kib(a.pooldbg, [paths[i % len(paths)] for i in range(n)],
                                           os.path.join(tmp, f"m{n}.jsonl"))
                           for n in (10, 50, 200)}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
