"""Every benchmark still runs: `python -m bench NAME` end to end at a tiny scale (BENCH_SMOKE=1: a few customers, a
few hundred rows, one round), so that a rename or a refactor cannot break one unseen. Only that it completes and
writes its figures is checked; timings are never asserted (their numbers live in docs/performance.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import BENCHMARKS

ROOT = Path(__file__).resolve().parent.parent


def _numbers(value) -> int:
    """How many numbers a result holds, at any depth."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return 1
    if isinstance(value, dict):
        return sum(_numbers(v) for v in value.values())
    if isinstance(value, list):
        return sum(_numbers(v) for v in value)
    return 0


@pytest.fixture(scope="module")
def postgres_url():
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("the benchmarks measure PostgreSQL: set DATABASE_URL=postgresql://… (CI does)")
    return url


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_benchmark_runs_and_reports(name, postgres_url, redis_url, tmp_path):
    env = {
        **os.environ,
        "BENCH_SMOKE": "1",
        "BENCH_RESULTS": str(tmp_path),
        "DATABASE_URL": postgres_url,
        "BENCH_REDIS_URL": redis_url,  # this test session's own Redis database (benchmarks flush theirs)
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench", name], cwd=ROOT, env=env, capture_output=True, text=True, timeout=280
    )
    assert proc.returncode == 0, f"python -m bench {name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    results = sorted(p for p in tmp_path.glob("*.json") if p.name.startswith(name) and ".inner." not in p.name)
    assert results, f"{name} wrote no results to BENCH_RESULTS; it printed:\n{proc.stdout[-2000:]}"
    for path in results:
        assert _numbers(json.loads(path.read_text())) > 0, f"{path.name} holds no figures"
    assert proc.stdout.strip(), f"{name} printed nothing"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_webhook_ack_stores_every_event_of_every_channel(postgres_url, redis_url, tmp_path):
    """bench/webhook_ack covers Messenger, WhatsApp and SMS (Twilio's form-encoded, signed over PUBLIC_URL with the
    number's Auth Token): each channel's deliveries are all acknowledged 2xx and every acknowledged one is stored.
    Durability only: its speed against the floor is the benchmark's to report, never a test's."""
    env = {
        **os.environ,
        "BENCH_SMOKE": "1",
        "BENCH_RESULTS": str(tmp_path),
        "DATABASE_URL": postgres_url,
        "BENCH_REDIS_URL": redis_url,
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench", "webhook_ack"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=280
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [path] = [p for p in tmp_path.glob("webhook_ack*.json") if ".inner." not in p.name]
    result = json.loads(path.read_text())
    for channel in ("facebook", "whatsapp", "sms"):
        figures = result[channel]
        assert figures["answered_200"] > 0 and figures["non_2xx"] == 0, (channel, figures)
        assert figures["stored"] >= figures["answered_200"], (channel, figures)
