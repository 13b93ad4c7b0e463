"""pooldbg.fleet on a Dask LocalCluster with 2 worker processes; tables checked against the
testkit manifests."""

from collections import defaultdict

import pooldbg
from pooldbg import fleet
from conftest import MACHINES, manifest


def expected_bytes(paths):
    per_tag = defaultdict(int)
    for p in paths:
        for r in manifest(p)["poolused"]:
            per_tag[r["tag"]] += r["nonpaged_bytes"] + r["paged_bytes"]
    return per_tag


def test_fleet_tables_on_a_local_cluster(dumps, tmp_path):
    bad = tmp_path / "machine-bad.dmp"
    bad.write_bytes(b"not a dump")
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        old = fleet.analyse_all(dumps["old"], client=client)
        new = fleet.analyse_all(dumps["new"] + [str(bad)], client=client)

    assert len(old) == MACHINES and len(new) == MACHINES + 1
    failed = [r for r in new if "error" in r]
    assert [r["dump"]["path"] for r in failed] == [str(bad)]
    for r in old + new:
        if "error" not in r:
            m = manifest(r["dump"]["path"])
            assert r["dump"]["build"] == m["info"]["build"]
            assert r["errors"] == {}, r["errors"]

    # Top tags: the manifests' counters summed over the machines.
    want = expected_bytes(dumps["new"])
    top = fleet.top_tags(new, n=1000)
    assert {t["tag"]: t["total_bytes"] for t in top} == {k: v for k, v in want.items() if v or k in
                                                        {t["tag"] for t in top}}
    assert top[0]["total_bytes"] == max(want.values())
    assert [t["total_bytes"] for t in top] == sorted((t["total_bytes"] for t in top), reverse=True)

    # Drivers: every byte of the tags lands on exactly one owner.
    drivers = fleet.top_drivers(new, n=1000)
    assert sum(d["total_bytes"] for d in drivers) == sum(want.values())

    # Growth: per machine, the tags whose bytes rose between the collections (Leak on each).
    grew = fleet.growth(old, new, n=10000)
    want_growth = []
    for k in range(MACHINES):
        a = {r["tag"]: r["nonpaged_bytes"] + r["paged_bytes"] for r in manifest(dumps["old"][k])["poolused"]}
        b = {r["tag"]: r["nonpaged_bytes"] + r["paged_bytes"] for r in manifest(dumps["new"][k])["poolused"]}
        for tag, nb in b.items():
            if nb > a.get(tag, 0):
                want_growth.append((f"machine-{k}", tag, nb - a.get(tag, 0)))
    assert sorted((g["machine"], g["tag"], g["delta_bytes"]) for g in grew) == sorted(want_growth)
    assert any(g["tag"].rstrip() == "Leak" for g in grew)

    # Near the limit: machines whose pool pages reach the threshold of their maximum, as the
    # manifests' !vm figures say (the threshold is the smallest ratio, so at least one is named).
    ratios = {}
    for k in range(MACHINES):
        vm = manifest(dumps["new"][k])["vm"]
        for pool in ("nonpaged", "paged"):
            u, c = vm.get(f"{pool}_pool_pages"), vm.get(f"{pool}_pool_max_pages")
            if u is not None and c:
                ratios[(f"machine-{k}", pool)] = u / c
    if ratios:
        threshold = sorted(ratios.values())[len(ratios) // 2]
        got = {(n["machine"], n["pool"]) for n in fleet.near_limit(new, threshold)}
        assert got == {key for key, r in ratios.items() if r >= threshold}
        assert got


def test_analyse_records_a_bad_dump_instead_of_raising(tmp_path):
    rec = fleet.analyse(str(tmp_path / "gone.dmp"))
    assert "gone.dmp" in rec["error"]
    assert rec["machine"] == "gone"
