"""The load mix in its small size against the data-centre deployment: every operation of the mix is served
through nginx without one error, dossiers go all the way through their workflow, and the memory of every
process can be sampled (what the soak in bench/load.py reports)."""

from __future__ import annotations

import pytest

from tinhso.ops import loadmix

pytestmark = [pytest.mark.slow, pytest.mark.nats, pytest.mark.mqtt, pytest.mark.timeout(900)]


def test_the_mix_runs_without_errors_through_the_proxy(deployment, actors):
    assert deployment.worker is not None and deployment.nginx is not None
    pids = {f"api-{i}": p.pid for i, p in enumerate(deployment.apis)}
    sampler = loadmix.RssSampler(pids | {"worker": deployment.worker.pid, "nginx": deployment.nginx.pid})
    sampler.sample(0)
    result = loadmix.run(actors, seconds=20, rate=8, users=32)
    sampler.sample(result.seconds)

    rows = {r["operation"]: r for r in result.rows()}
    errors = {op: r["error_samples"] for op, r in rows.items() if r["errors"]}
    assert errors == {}
    assert set(rows) >= {
        "portal_page",
        "opendata_package_search",
        "opendata_datastore_search",
        "dossier_submit",
        "dossier_transition",
        "exchange_call",
        "sensor_batch",
    }
    assert all(r["requests"] > 0 for r in rows.values())
    assert result.dossiers_finished > 0  # submitted, assigned, reviewed, signed and returned
    growth = sampler.growth()
    assert set(growth) == set(sampler.pids) and all(g["end_mib"] > 0 for g in growth.values())
