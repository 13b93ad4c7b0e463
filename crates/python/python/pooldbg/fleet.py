"""Fleets of dumps on Dask: map pooldbg over dump paths on a cluster, reduce to fleet tables.

The same code runs on a laptop and on a cluster; only the scheduler changes::

    from pooldbg import fleet
    records = fleet.analyse_all(paths)                        # a LocalCluster made for the run
    records = fleet.analyse_all(paths, scheduler="tcp://scheduler:8786")   # a real cluster
    fleet.top_tags(records)        # tags by pool bytes summed over machines
    fleet.top_drivers(records)     # owning binaries (pooltag.txt's column) by pool bytes
    fleet.near_limit(records)      # machines whose nonpaged or paged pool is near its maximum
    fleet.growth(old_records, new_records)   # tags that grew between two collections

Each worker opens its dump with :func:`pooldbg.open` (the dump's path must be readable there:
shared storage on a real cluster) and returns one small record; the pool tables are reduced on
the client. Every table is a list of dicts (``pandas.DataFrame(table)`` works). pooldbg itself
stays single-machine and stateless: nothing here is kept between runs.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any, Dict, Iterable, List, Optional, Sequence

import pooldbg

#: The commands a record holds.
COMMANDS = ("info", "!vm 1", "!poolused")


def analyse(path: str, symbols: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """One dump's record: ``dump`` (identity), ``machine`` (key), ``vm`` (the !vm row),
    ``poolused`` (its rows), ``errors`` (command -> message). Never raises for a bad dump: a
    dump that does not open gives ``{"dump": {"path"}, "error": message}``."""
    try:
        d = pooldbg.open(path, symbols)
    except pooldbg.Error as e:
        return {"dump": {"path": os.fspath(path)}, "machine": machine_key({"path": path}), "error": str(e)}
    with d:
        ident = d.identity()
        rec: Dict[str, Any] = {"dump": ident, "machine": machine_key(ident), "errors": {}}
        for cmd, key in (("!vm 1", "vm"), ("!poolused", "poolused")):
            try:
                rows = d.run(cmd)["rows"]
                rec[key] = rows[0] if key == "vm" and rows else rows
            except pooldbg.CommandError as e:
                rec["errors"][cmd] = str(e)
                rec[key] = {} if key == "vm" else []
        return rec


def machine_key(ident: Dict[str, Any]) -> str:
    """The machine a dump came from: its computer name when the dump has one, else the dump
    file's name without extension (collections of the same machines keep file names)."""
    if ident.get("machine"):
        return str(ident["machine"])
    return os.path.splitext(os.path.basename(str(ident.get("path", ""))))[0]


def analyse_all(
    paths: Iterable[str],
    scheduler: Optional[str] = None,
    client: Any = None,
    n_workers: int = 2,
    symbols: Optional[Sequence[str]] = None,
) -> List[Dict[str, Any]]:
    """Maps :func:`analyse` over ``paths`` on Dask and gathers the records as they finish.

    ``client``: a ``dask.distributed.Client`` to use; else ``scheduler`` (an address such as
    ``tcp://host:8786``) to connect to; else a ``LocalCluster`` of ``n_workers`` processes made
    for this call and closed after it."""
    from dask.distributed import Client, LocalCluster, as_completed

    own_cluster = None
    own_client = None
    if client is None:
        if scheduler is None:
            own_cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
            scheduler = own_cluster
        own_client = client = Client(scheduler)
    try:
        futures = client.map(analyse, list(paths), symbols=symbols, pure=False)
        records = []
        for fut in as_completed(futures):
            records.append(fut.result())
            fut.release()
        records.sort(key=lambda r: str(r["dump"].get("path")))
        return records
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()


def _ok(records: Iterable[Dict[str, Any]]) -> Iterable[Dict[str, Any]]:
    return (r for r in records if "error" not in r)


def top_tags(records: Iterable[Dict[str, Any]], n: int = 20) -> List[Dict[str, Any]]:
    """Tags by pool bytes (nonpaged + paged) summed over the machines: ``tag``,
    ``nonpaged_bytes``, ``paged_bytes``, ``total_bytes``, ``machines`` (how many hold it)."""
    acc: Dict[str, Dict[str, Any]] = {}
    for r in _ok(records):
        for row in r.get("poolused", []):
            t = acc.setdefault(row["tag"], {"tag": row["tag"], "nonpaged_bytes": 0, "paged_bytes": 0,
                                            "machines": 0})
            t["nonpaged_bytes"] += int(row.get("nonpaged_bytes") or 0)
            t["paged_bytes"] += int(row.get("paged_bytes") or 0)
            t["machines"] += 1
    out = [dict(v, total_bytes=v["nonpaged_bytes"] + v["paged_bytes"]) for v in acc.values()]
    out.sort(key=lambda t: (-t["total_bytes"], t["tag"]))
    return out[:n]


def top_drivers(records: Iterable[Dict[str, Any]], n: int = 20) -> List[Dict[str, Any]]:
    """Owning binaries (``!poolused``'s ``binary``, from pooltag.txt; ``<unknown>`` when no
    tag database names one) by pool bytes over the machines: ``driver``, ``nonpaged_bytes``,
    ``paged_bytes``, ``total_bytes``, ``tags`` (distinct tags), ``machines``."""
    acc: Dict[str, Dict[str, Any]] = {}
    tags: Dict[str, set] = defaultdict(set)
    machines: Dict[str, set] = defaultdict(set)
    for r in _ok(records):
        for row in r.get("poolused", []):
            drv = row.get("binary") or "<unknown>"
            t = acc.setdefault(drv, {"driver": drv, "nonpaged_bytes": 0, "paged_bytes": 0})
            t["nonpaged_bytes"] += int(row.get("nonpaged_bytes") or 0)
            t["paged_bytes"] += int(row.get("paged_bytes") or 0)
            tags[drv].add(row["tag"])
            machines[drv].add(r["machine"])
    out = [dict(v, total_bytes=v["nonpaged_bytes"] + v["paged_bytes"], tags=len(tags[k]),
                machines=len(machines[k])) for k, v in acc.items()]
    out.sort(key=lambda t: (-t["total_bytes"], t["driver"]))
    return out[:n]


def near_limit(records: Iterable[Dict[str, Any]], threshold: float = 0.8) -> List[Dict[str, Any]]:
    """Machines whose nonpaged or paged pool use is at least ``threshold`` of its maximum
    (``!vm``'s ``*_pool_pages`` over ``*_pool_max_pages``; a dump whose !vm lacks a figure is
    not judged on it): ``machine``, ``path``, ``pool``, ``pages``, ``max_pages``, ``ratio``."""
    out = []
    for r in _ok(records):
        vm = r.get("vm") or {}
        for pool in ("nonpaged", "paged"):
            used, cap = vm.get(f"{pool}_pool_pages"), vm.get(f"{pool}_pool_max_pages")
            if isinstance(used, int) and isinstance(cap, int) and cap > 0 and used >= threshold * cap:
                out.append({"machine": r["machine"], "path": r["dump"]["path"], "pool": pool,
                            "pages": used, "max_pages": cap, "ratio": used / cap})
    out.sort(key=lambda m: (-m["ratio"], m["machine"], m["pool"]))
    return out


def growth(old: Iterable[Dict[str, Any]], new: Iterable[Dict[str, Any]], n: int = 50) -> List[Dict[str, Any]]:
    """Tags that grew between two collections of the same machines (matched by
    :func:`machine_key`): ``machine``, ``tag``, ``old_bytes``, ``new_bytes``, ``delta_bytes``
    (nonpaged + paged), largest growth first; only rows with ``delta_bytes > 0``."""
    def per_machine(records):
        m: Dict[str, Dict[str, int]] = {}
        for r in _ok(records):
            m[r["machine"]] = {row["tag"]: int(row.get("nonpaged_bytes") or 0) + int(row.get("paged_bytes") or 0)
                               for row in r.get("poolused", [])}
        return m

    a, b = per_machine(old), per_machine(new)
    out = []
    for machine in sorted(set(a) & set(b)):
        for tag, nb in b[machine].items():
            ob = a[machine].get(tag, 0)
            if nb > ob:
                out.append({"machine": machine, "tag": tag, "old_bytes": ob, "new_bytes": nb,
                            "delta_bytes": nb - ob})
    out.sort(key=lambda g: (-g["delta_bytes"], g["machine"], g["tag"]))
    return out[:n]
