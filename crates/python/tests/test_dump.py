"""pooldbg.open / Dump against testkit manifests, from the installed wheel."""

import threading

import pytest

import pooldbg
from conftest import manifest


def test_the_installed_wheel_is_under_test():
    # Not the source tree: the wheel's copy, with the plugins shipped beside the module.
    assert "site-packages" in pooldbg.__file__, pooldbg.__file__
    import os
    assert any(f.endswith((".so", ".dll", ".dylib")) for f in os.listdir(pooldbg.PLUGIN_DIR))


def test_info_and_identity_match_the_manifest(dumps):
    for path in dumps["old"]:
        m = manifest(path)
        with pooldbg.open(path) as d:
            info = d.info()
            assert info["build"] == m["info"]["build"]
            assert info["arch"] == m["info"]["arch"]
            ident = d.identity()
            assert ident["path"] == path
            assert ident["build"] == m["info"]["build"]
            assert int(ident["bugcheck_code"], 16) == m["info"]["bugcheck_code"]


def test_poolused_rows_are_the_manifests_counters(dumps):
    path = dumps["new"][1]
    m = manifest(path)
    with pooldbg.open(path) as d:
        rows = {r["tag"].rstrip(): r for r in d.poolused()}
    assert m["poolused"], "the manifest has tags"
    for want in m["poolused"]:
        got = rows[want["tag"].rstrip()]
        for k in ("nonpaged_allocs", "nonpaged_bytes", "paged_allocs", "paged_bytes"):
            assert got[k] == want[k], (want["tag"], k)
    assert rows["Leak"]["nonpaged_allocs"] >= 2


def test_run_returns_the_cli_object_and_vm_rows(dumps):
    path = dumps["old"][0]
    m = manifest(path)
    with pooldbg.open(path) as d:
        obj = d.run("!poolused 2")
        assert obj["command"] == "!poolused" and obj["args"] == "2"
        assert obj["target"]["build"] == m["info"]["build"]
        assert {"rows", "summary", "warnings", "sources", "schema"} <= set(obj)
        vm = d.vm(1)
        assert len(vm) == 1
        for k in ("nonpaged_pool_pages", "paged_pool_pages", "physical_pages"):
            if k in m["vm"] and k in vm[0]:
                assert vm[0][k] == m["vm"][k], k


def test_poolfind_and_pool_find_the_manifests_blocks(dumps):
    path = dumps["new"][0]
    m = manifest(path)
    leak = [b for b in m["blocks"] if b.get("tag", "").rstrip() == "Leak" and b.get("allocated", True)]
    assert leak, "the fleet's new dumps have Leak blocks"
    with pooldbg.open(path) as d:
        found = d.poolfind("Leak")
        assert len(found) >= 1 and all(r["tag"].rstrip() == "Leak" for r in found)
        addr = leak[0]["address"]
        rows = d.pool(int(addr, 16) if isinstance(addr, str) else addr)
        assert any(r.get("tag", "").rstrip() == "Leak" for r in rows), rows


def test_errors_are_exceptions_with_the_cli_messages(tmp_path, dumps):
    with pytest.raises(pooldbg.Error) as e:
        pooldbg.open(tmp_path / "missing.dmp")
    assert "missing.dmp" in str(e.value)
    junk = tmp_path / "junk.dmp"
    junk.write_bytes(b"PAGEDU64" + b"\0" * 100)
    with pytest.raises(pooldbg.Error):
        pooldbg.open(junk)
    with pooldbg.open(dumps["old"][0]) as d:
        with pytest.raises(pooldbg.CommandError) as e:
            d.run("!nosuch")
        assert str(e.value).startswith("!nosuch"), str(e.value)
        assert e.value.result["error"]


def test_the_context_manager_closes_the_dump(dumps):
    with pooldbg.open(dumps["old"][0]) as d:
        assert not d.closed
    assert d.closed
    with pytest.raises(ValueError):
        d.info()


def test_threads_share_the_interpreter_while_dumps_are_read(dumps):
    # Two threads each read a dump; with the GIL released both finish and agree with a
    # sequential read (a deadlock or a crash would fail this).
    results = {}

    def work(i, path):
        with pooldbg.open(path) as d:
            results[i] = sorted(r["tag"] for r in d.poolused())

    ts = [threading.Thread(target=work, args=(i, p)) for i, p in enumerate(dumps["old"][:2])]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    for i, p in enumerate(dumps["old"][:2]):
        with pooldbg.open(p) as d:
            assert results[i] == sorted(r["tag"] for r in d.poolused())
