"""Fixtures: a fleet of testkit dumps with their manifests (`cargo xtask fixtures --fleet N`).

POOLDBG_FLEET_DIR names a folder already written (CI writes it once); else it is written here.
The package under test must be the installed wheel, never this source tree.
"""

import json
import os
import pathlib
import subprocess

import pytest

MACHINES = 4


@pytest.fixture(scope="session")
def fleet_dir(tmp_path_factory):
    given = os.environ.get("POOLDBG_FLEET_DIR")
    if given:
        out = pathlib.Path(given)
    else:
        out = tmp_path_factory.mktemp("fleet")
    if not (out / "new" / f"machine-{MACHINES - 1}.dmp").exists():
        root = pathlib.Path(__file__).resolve().parents[3]
        subprocess.run(
            ["cargo", "xtask", "fixtures", "--fleet", str(MACHINES), "--size", "16", "--out", str(out)],
            cwd=root, check=True,
        )
    return out


def manifest(path):
    return json.loads(pathlib.Path(path).with_suffix(".json").read_text())


@pytest.fixture(scope="session")
def dumps(fleet_dir):
    """{"old": [paths], "new": [paths]}, machine order."""
    return {c: [str(fleet_dir / c / f"machine-{k}.dmp") for k in range(MACHINES)] for c in ("old", "new")}
