"""The KPI engine: definitions in five groups, runs from live measures, not-measured and failed KPIs, the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.factories import SKHCN, TUPHAP
from tinhso.governance import kpi
from tinhso.governance import tasks as gtasks
from tinhso.governance.measures import registry
from tinhso.governance.models import KpiDefinition, KpiRun, KpiValue, RegisteredSystem


def _system(s, code: str, ok: bool) -> None:  # noqa: ANN001
    from tinhso.governance import compliance

    system = RegisteredSystem(
        code=code,
        agency_code=TUPHAP,
        name=code,
        layer="application",
        status="live",
        integration="lgsp",
        sign_in="shared_sso" if ok else "own_accounts",
        security_level=2,
        security_approved=True,
        reports_operational_data=True,
        results=[],
    )
    s.add(system)
    s.flush()
    compliance.evaluate(s, system, registry())


def test_definitions_cover_the_five_groups(db):
    with db.transaction() as s:
        defs = list(s.scalars(select(KpiDefinition)))
    assert len(defs) >= 25
    assert {d.group for d in defs} == set(kpi.GROUPS)
    assert all(d.unit and d.direction in ("up", "down") and d.frequency and d.measures for d in defs)


def test_run_computes_from_live_data_and_never_invents(db):
    with db.transaction() as s:
        _system(s, "A", ok=True)
        _system(s, "B", ok=False)
        run = kpi.run(s, trigger="test")
        values = {v.kpi_code: v for v in s.scalars(select(KpiValue))}
    assert run.computed >= 10 and run.computed + run.not_measured + run.failed == len(kpi.SPECS)
    assert values["arch.systems_compliant"].value == 50.0
    assert values["arch.systems_compliant"].provenance["measures"] == {
        "governance.systems_compliant_share": 0.5
    }
    assert values["sec.audit_chain"].value == 100.0
    assert values["ops.systems_registered"].value == 2
    provided = registry()
    for spec in kpi.SPECS:
        v = values[spec.code]
        if any(m not in provided for m in spec.measures):
            assert v.status == "not_measured" and v.value is None and "not provided" in v.reason
    assert (
        values["arch.apis_documented"].status == "not_measured"
    )  # no system exposes an API: no share to take
    assert "no value" in values["arch.apis_documented"].reason


def test_a_failing_formula_shows_its_reason_and_the_others_compute(db):
    broken = kpi.KpiSpec(
        "arch.systems_compliant",
        "architecture",
        "x",
        "x",
        "%",
        "up",
        90,
        50,
        "hourly",
        "1/0",
        (),
        lambda m: 1 / 0,
    )
    missing = kpi.KpiSpec(
        "ops.systems_registered",
        "operations",
        "x",
        "x",
        "count",
        "up",
        None,
        None,
        "daily",
        "m",
        ("nowhere.measure",),
        lambda m: m("nowhere.measure"),
    )
    specs = dict(kpi.SPECS_BY_CODE) | {broken.code: broken, missing.code: missing}
    with db.transaction() as s:
        run = kpi.run(s, trigger="test", specs=specs)
        values = {v.kpi_code: v for v in s.scalars(select(KpiValue))}
    assert (
        values["arch.systems_compliant"].status == "failed"
        and "ZeroDivisionError" in values["arch.systems_compliant"].reason
    )
    assert (
        values["ops.systems_registered"].status == "not_measured"
        and "nowhere.measure" in values["ops.systems_registered"].reason
    )
    assert values["sec.audit_chain"].status == "computed"
    assert run.failed == 1


def test_rerun_in_the_same_period_replaces_and_series_grow(db):
    t0 = datetime(2026, 5, 1, 3, tzinfo=UTC)
    with db.transaction() as s:
        kpi.run(s, at=t0)
        kpi.run(s, at=t0 + timedelta(minutes=5))
        n_same = s.scalar(
            select(func.count()).select_from(KpiValue).where(KpiValue.kpi_code == "sec.audit_chain")
        )
        kpi.run(s, at=t0 + timedelta(hours=2))
        n_later = s.scalar(
            select(func.count()).select_from(KpiValue).where(KpiValue.kpi_code == "sec.audit_chain")
        )
        daily = s.scalar(
            select(func.count()).select_from(KpiValue).where(KpiValue.kpi_code == "ops.systems_registered")
        )
    assert (n_same, n_later, daily) == (1, 2, 1)


def test_schedule_runs_once_an_hour(db):
    now = datetime(2026, 5, 1, 3, 10, tzinfo=UTC)
    with db.transaction() as s:
        assert gtasks.scheduled_run(s, now) is True
        assert gtasks.scheduled_run(s, now + timedelta(minutes=20)) is False
        assert gtasks.scheduled_run(s, now + timedelta(hours=1)) is True
        assert s.scalar(select(func.count()).select_from(KpiRun)) == 2


def test_cli_kpi_run(db):
    from tinhso.governance.cli import cli

    result = CliRunner().invoke(cli, ["kpi-run"])
    assert result.exit_code == 0, result.output
    with db.transaction() as s:
        assert s.scalar(select(KpiRun.trigger)) == "cli"


def test_kpi_api(client, factory, db):
    admin = factory.person(("platform_admin",), agency=SKHCN)
    leader = factory.person(("leader",), agency="000.00.00.H41")
    assert client.get("/api/v1/kpis").status_code == 401
    assert client.get("/api/v1/kpis", headers=factory.citizen().headers).status_code == 403
    before = client.get("/api/v1/kpis", headers=leader.headers).json()
    assert all(k["status"] == "not_computed" for k in before)
    assert client.post("/api/v1/kpis/run", headers=leader.headers).status_code == 403
    r = client.post("/api/v1/kpis/run", headers=admin.headers)
    assert r.status_code == 201 and r.json()["computed"] > 0
    kpis = client.get("/api/v1/kpis", params={"group": "security"}, headers=leader.headers).json()
    chain = next(k for k in kpis if k["code"] == "sec.audit_chain")
    assert (
        chain["value"] == 100
        and chain["target_status"] == "met"
        and chain["group_name"] == "Kỹ thuật và an toàn"
    )
    series = client.get("/api/v1/kpis/sec.audit_chain/series", headers=leader.headers).json()
    assert (
        len(series["points"]) == 1
        and series["points"][0]["provenance"]["measures"]["audit.chain_intact"] == 1.0
    )
    assert client.get("/api/v1/kpis/nope/series", headers=leader.headers).status_code == 404
    assert client.get("/api/v1/kpis", params={"group": "x"}, headers=leader.headers).status_code == 422
    csv_text = client.get("/api/v1/kpis/export.csv", headers=leader.headers).text
    assert csv_text.splitlines()[0].startswith("code,group") and "sec.audit_chain" in csv_text


def test_crossing_the_alert_threshold_raises_one_ioc_alert(db):
    from tinhso.governance.models import Alert
    from tinhso.kit.events import OutboxEvent, wait_until_dispatched

    with db.transaction() as s:
        _system(s, "B", ok=False)  # 0 % compliant: below the alert threshold (60 %)
    at = datetime(2026, 5, 1, 3, tzinfo=UTC)
    with db.transaction() as s:
        kpi.run(s, at=at)
        kpi.run(s, at=at + timedelta(minutes=10))  # the same period: no second alert
        kpi.run(s, at=at + timedelta(hours=1))  # still in alert: no new alert
        topics = list(
            s.scalars(select(OutboxEvent.payload).where(OutboxEvent.topic == "governance.kpi.alert"))
        )
    assert [t["kpi"] for t in topics].count("arch.systems_compliant") == 1
    from tinhso.governance import tasks as gt
    from tinhso.kit.events import bus

    gt.subscribe(bus)
    wait_until_dispatched(db)
    with db.transaction() as s:
        titles = list(s.scalars(select(Alert.title).where(Alert.topic == "governance.kpi.alert")))
    assert any(t.startswith("Tỷ lệ HTTT đang vận hành tuân thủ") for t in titles)


def test_monthly_report_page(client, factory, db):
    at = datetime(2026, 5, 10, 3, tzinfo=UTC)
    with db.transaction() as s:
        kpi.run(s, at=at)
        kpi.run(s, at=at + timedelta(days=1))
        kpi.run(s, at=datetime(2026, 6, 2, 3, tzinfo=UTC))
    leader = factory.person(("leader",), agency="000.00.00.H41")
    page = client.get("/ioc/report", params={"month": "2026-05"}, headers=leader.headers)
    assert page.status_code == 200
    assert "tháng 05/2026" in page.text and "Tính toàn vẹn chuỗi nhật ký" in page.text
    assert "11/05 00:00" in page.text and "03/06" not in page.text  # only May's periods
    assert client.get("/ioc/report", params={"month": "2026-13"}, headers=leader.headers).status_code == 422
    assert client.get("/ioc/report").status_code == 401


def test_exchange_p95_latency_comes_from_the_hub_log(db):
    """int.exchange_p95 reads the exchange module's `exchange.latency_p95` (ms, calls that reached a provider)."""
    from tinhso.exchange.models import MessageLog

    now = datetime.now(UTC)
    with db.transaction() as s:
        for i in range(
            1, 21
        ):  # 20 calls of 10, 20, ... 200 ms; the hub's refusals (no upstream) do not count
            s.add(
                MessageLog(
                    seq=i,
                    message_id=f"m{i}",
                    at=now,  # within the current hour, before the run
                    client="NA/GOV/a/c",
                    service="NA/GOV/b/s",
                    provider_agency_code=TUPHAP,
                    method="GET",
                    path="/r1/x",
                    status=200 if i % 5 else 403,
                    duration_ms=10.0 * i,
                    upstream_ms=(10.0 * i - 2) if i % 5 else None,
                    request_sha256="h",
                    response_sha256="h",
                    prev_hash="h",
                    hash="h",
                    key_id="k",
                    signature="s",
                )
            )
    with db.transaction() as s:
        kpi.run(s, trigger="test")
        value = kpi.latest_values(s, ["int.exchange_p95"])["int.exchange_p95"]
        assert value.status == "computed", value.reason
        # the 16 provider calls: 10..190 ms without 50, 100, 150, 200; nearest-rank p95 is the 16th = 190 ms
        assert value.value == 190.0
