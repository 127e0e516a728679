"""sextant-load, the load-run tool (Docs/development.md), against a real sextant: a tiny run, once per ADS protocol
of its simulated proxies (`--protocol sotw` and `delta`), must sync every proxy, see every endpoint change arrive at
every proxy, report its figures, and leave no sextant process behind. Its figures are not asserted (speed is
measured by load runs, not by tests); this only keeps the tool working.

Run: .venv/bin/python -m pytest -q Tests/E2E/test_load_tool.py   (after `swift build`)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import XDS_PROTOCOLS


def sextant_processes_under(directory_prefix: str) -> list[int]:
    """PIDs whose command line mentions `directory_prefix` (a load run's working directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "serve" in command and directory_prefix in command:
            found.append(int(entry.name))
    return found


PROXIES, CHANGES = 10, 3


@pytest.mark.parametrize("xds_protocol", XDS_PROTOCOLS)
def test_a_small_load_run_syncs_every_proxy_and_measures_every_change(xds_protocol: str, sextant_bin: Path, figure):
    tool = sextant_bin.parent / "sextant-load"
    assert os.access(tool, os.X_OK), f"{tool} is missing: `swift build` builds it with sextant"
    # Its own session, so a timeout stops it by process group: SIGTERM first (the tool then stops the sextant it
    # started, which runs in a process group of its own), then SIGKILL, then any sextant still under its directory.
    process = subprocess.Popen(
        [str(tool), "--sextant", str(sextant_bin), "--services", "20", "--endpoints-per-service", "3",
         "--proxies", str(PROXIES), "--changes", str(CHANGES), "--timeout", "60", "--debounce-after", "10ms",
         "--protocol", xds_protocol],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            stdout, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        for pid in sextant_processes_under(f"/sextant-load-{process.pid}/"):
            os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"sextant-load did not finish in 180 s: {(stdout + stderr)[-3000:]}")
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    for name in ("initial sync, all proxies (first connect to last synced)",
                 "endpoint change, file written to proxy received, p50 / p99 / max",
                 "fan-out, first to last proxy per change, p50 / max"):
        assert name in lines, f"sextant-load printed no {name!r}: {result.stdout}"
        figure(name, lines[name])
    assert f"{PROXIES} proxies ({xds_protocol})" in result.stdout.splitlines()[0], result.stdout
    assert lines.get("proxies synced") == f"{PROXIES} of {PROXIES}", result.stdout
    assert lines.get("changes received by every proxy") == f"{CHANGES} of {CHANGES}", result.stdout
    assert lines.get("stream failures") == "0; NACKs: 0", result.stdout
    assert re.match(r"\d+ KiB", lines.get("config bytes per proxy", "")), result.stdout
    assert not sextant_processes_under(f"/sextant-load-{process.pid}/"), "sextant-load left a sextant process running"


def test_a_missing_sextant_executable_is_named(sextant_bin: Path, tmp_path: Path):
    tool = sextant_bin.parent / "sextant-load"
    missing = tmp_path / "no-such-sextant"
    result = subprocess.run([str(tool), "--sextant", str(missing)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"--sextant {missing}: not an executable file" in result.stderr, result.stderr


def test_an_unknown_protocol_is_refused(sextant_bin: Path):
    tool = sextant_bin.parent / "sextant-load"
    result = subprocess.run([str(tool), "--sextant", str(sextant_bin), "--protocol", "incremental"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "--protocol" in result.stderr and "incremental" in result.stderr, result.stderr
