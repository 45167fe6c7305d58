"""The systems registry and its compliance rules, through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tests.factories import CONGAN, SKHCN, TUPHAP
from tinhso.governance import compliance
from tinhso.governance.measures import registry
from tinhso.governance.models import ComplianceResult, RegisteredSystem
from tinhso.kit.audit import AuditEntry
from tinhso.kit.events import OutboxEvent

URL = "/api/v1/governance/systems"


def body(**over):
    data = {
        "code": "QLHS",
        "name": "Hệ thống quản lý hộ tịch",
        "layer": "application",
        "status": "live",
        "security_level": 3,
        "security_approved": True,
        "security_approval_ref": "12/QĐ-STP",
        "hosting": "provincial_dc",
        "integration": "lgsp",
        "sign_in": "shared_sso",
        "services_exposed": [{"code": "ho-tich", "openapi_url": "https://stp.nghean.gov.vn/openapi.json"}],
        "holds_important_data": True,
        "backup_frequency": "daily",
        "last_backup_at": (datetime.now(UTC) - timedelta(hours=3)).isoformat(),
        "monitoring": ["network", "application", "database", "endpoint"],
        "reports_operational_data": True,
    }
    data.update(over)
    return data


def verdicts(report: dict) -> dict[str, str]:
    return {r["rule_code"]: r["verdict"] for r in report["results"]}


def count(db, model) -> int:  # noqa: ANN001
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_agency_admin_registers_and_gets_explained_verdicts(client, factory, db):
    admin = factory.person(("agency_admin", "official"), agency=TUPHAP)
    r = client.post(URL, json=body(), headers=admin.headers)
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["system"]["agency_code"] == TUPHAP
    assert len(report["results"]) == len(compliance.RULES)
    v = verdicts(report)
    assert v["KT-06"] == "pass" and v["KT-07"] == "pass" and v["KT-08"] == "pass"
    kt02 = next(x for x in report["results"] if x["rule_code"] == "KT-02")
    if "exchange.published_services" in registry():  # live evidence: the agency publishes nothing on the LGSP
        assert kt02["verdict"] == "fail" and kt02["source"] == "live"
        assert kt02["evidence_data"]["exchange.published_services"] == 0
    else:
        assert kt02["verdict"] == "pass"
    assert v["KT-04"] == "not_applicable"
    first = report["results"][0]
    assert "Quyết định" not in first["quote"] or first["quote"]
    assert first["section"].startswith("Phụ lục")
    assert first["title"]["vi"] != first["title"]["en"]  # translated through the catalog
    with db.transaction() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "governance.system.create")
            )
            == 1
        )
        assert (
            s.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.topic == "governance.system.registered")
            )
            == 1
        )


def test_departures_are_failed_with_a_remedy(client, factory):
    admin = factory.person(("agency_admin",), agency=TUPHAP)
    r = client.post(
        URL,
        json=body(
            code="RIENG",
            integration="direct",
            sign_in="own_accounts",
            security_approved=False,
            monitoring=["network"],
            services_exposed=[{"code": "x"}],
            sectoral_software=True,
            last_backup_at=(datetime.now(UTC) - timedelta(days=10)).isoformat(),
            reports_operational_data=False,
            hosting="commercial_cloud",
        ),
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    report = r.json()
    v = verdicts(report)
    for code in ("KT-01", "KT-02", "KT-03", "KT-05", "KT-06", "KT-08", "KT-09"):
        assert v[code] == "fail", (code, v)
    assert v["KT-10"] == "warn"
    assert v["KT-07"] == "not_applicable" or v["KT-07"] == "fail"
    failed = [x for x in report["results"] if x["verdict"] == "fail"]
    assert all(x["remedy"] and x["remedy"]["vi"] and x["remedy"]["en"] for x in failed)
    kt02 = next(x for x in report["results"] if x["rule_code"] == "KT-02")
    assert "x" in kt02["evidence"]["en"] and kt02["source"] == "declared"
    assert report["system"]["compliance_failed"] == len(failed)


def test_another_agencys_user_cannot_register_or_change(client, factory, db):
    admin = factory.person(("agency_admin",), agency=CONGAN)
    r = client.post(URL, json=body(agency_code=TUPHAP), headers=admin.headers)
    assert r.status_code == 403 and r.json()["code"] == "system_not_yours"
    assert count(db, RegisteredSystem) == 0
    own = factory.person(("agency_admin",), agency=TUPHAP)
    created = client.post(URL, json=body(), headers=own.headers).json()["system"]
    r = client.patch(f"{URL}/{created['id']}", json={"version": 1, "name": "Đổi tên"}, headers=admin.headers)
    assert r.status_code == 404  # not even visible to another agency
    official = factory.person(("official",), agency=TUPHAP)
    r = client.patch(
        f"{URL}/{created['id']}", json={"version": 1, "name": "Đổi tên"}, headers=official.headers
    )
    assert r.status_code == 403
    citizen = factory.citizen()
    assert client.get(URL, headers=citizen.headers).status_code == 403
    assert client.get(URL).status_code == 401


def test_reading_is_scoped_leaders_read_everything_read_only(client, factory):
    tuphap = factory.person(("agency_admin",), agency=TUPHAP)
    congan = factory.person(("agency_admin",), agency=CONGAN)
    a = client.post(URL, json=body(), headers=tuphap.headers).json()["system"]
    client.post(URL, json=body(code="CA1", name="Phân hệ dân cư"), headers=congan.headers)
    assert client.get(URL, headers=tuphap.headers).json()["total"] == 1
    assert client.get(f"{URL}/{a['id']}", headers=congan.headers).status_code == 404
    leader = factory.person(("leader", "official"), agency="000.00.00.H41")
    listed = client.get(URL, headers=leader.headers).json()
    assert listed["total"] == 2
    assert client.get(f"{URL}/{a['id']}/compliance", headers=leader.headers).status_code == 200
    r = client.patch(f"{URL}/{a['id']}", json={"version": 1, "status": "retired"}, headers=leader.headers)
    assert r.status_code == 403
    r = client.get(URL, params={"q": "ho tich"}, headers=leader.headers)  # accent-insensitive
    assert r.json()["total"] == 1


def test_update_reruns_rules_and_guards_versions(client, factory, db):
    admin = factory.person(("agency_admin",), agency=TUPHAP)
    s = client.post(URL, json=body(sign_in="own_accounts"), headers=admin.headers).json()
    assert verdicts(s)["KT-03"] == "fail"
    sid = s["system"]["id"]
    r = client.patch(f"{URL}/{sid}", json={"version": 1, "sign_in": "shared_sso"}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert verdicts(r.json())["KT-03"] == "pass" and r.json()["system"]["version"] == 2
    stale = client.patch(
        f"{URL}/{sid}", json={"version": 1, "sign_in": "own_accounts"}, headers=admin.headers
    )
    assert stale.status_code == 409 and stale.json()["code"] == "system_changed"
    assert client.get(f"{URL}/{sid}", headers=admin.headers).json()["sign_in"] == "shared_sso"
    assert count(db, ComplianceResult) == len(compliance.RULES)  # replaced, not appended
    retired = client.patch(
        f"{URL}/{sid}", json={"version": 2, "status": "retired"}, headers=admin.headers
    ).json()
    assert set(verdicts(retired).values()) == {"not_applicable"}


def test_bad_input_changes_nothing(client, factory, db):
    admin = factory.person(("agency_admin",), agency=TUPHAP)
    for bad in (
        body(security_level=7),
        body(status="dead"),
        body(code="có dấu"),
        body(unknown_field=1),
        body(services_exposed=[{"code": "a", "openapi_url": "not a url"}]),
        body(monitoring=["satellite"]),
    ):
        r = client.post(URL, json=bad, headers=admin.headers)
        assert r.status_code == 422, bad
        assert r.json()["code"] == "validation_error"
    r = client.post(
        URL,
        json=body(agency_code="999.99.99.H41"),
        headers=factory.person(("platform_admin",), agency=SKHCN).headers,
    )
    assert r.status_code == 404
    assert count(db, RegisteredSystem) == 0
    assert client.post(URL, json=body(), headers=admin.headers).status_code == 201
    again = client.post(URL, json=body(), headers=admin.headers)
    assert again.status_code == 409 and again.json()["code"] == "system_code_taken"
    assert count(db, RegisteredSystem) == 1
    assert client.get(f"{URL}/nope", headers=admin.headers).status_code == 404
    assert client.get(f"{URL}/nope", headers=admin.headers).json()["code"] == "system_not_found"


def test_link_to_platform_system_gives_live_sign_in_evidence(client, factory):
    sysactor = factory.system(agency=TUPHAP, code="HOTICH")
    other = factory.system(agency=CONGAN, code="CA")
    admin = factory.person(("agency_admin",), agency=TUPHAP)
    bad = client.post(URL, json=body(identity_system_id=other.principal.system_id), headers=admin.headers)
    assert bad.status_code == 400 and bad.json()["code"] == "identity_system_invalid"
    r = client.post(URL, json=body(identity_system_id=sysactor.principal.system_id), headers=admin.headers)
    kt03 = next(x for x in r.json()["results"] if x["rule_code"] == "KT-03")
    assert kt03["verdict"] == "pass" and kt03["source"] == "live"
    assert kt03["evidence_data"]["active_credentials"] == 1


def test_systems_with_write_scope_register_for_their_agency(client, factory):
    reader = factory.system(agency=TUPHAP, scopes=("governance",))
    assert client.get(URL, headers=reader.headers).status_code == 200
    assert client.post(URL, json=body(), headers=reader.headers).status_code == 403
    writer = factory.system(agency=TUPHAP, scopes=("governance", "governance:write"))
    assert client.post(URL, json=body(), headers=writer.headers).status_code == 201
    assert client.get(URL, headers=factory.system(agency=TUPHAP, scopes=("api",)).headers).status_code == 403


def test_agency_report_and_rules(client, factory):
    admin = factory.person(("agency_admin",), agency=TUPHAP)
    client.post(URL, json=body(services_exposed=[]), headers=admin.headers)
    client.post(URL, json=body(code="B", sign_in="own_accounts", services_exposed=[]), headers=admin.headers)
    r = client.get(f"/api/v1/governance/agencies/{TUPHAP}/compliance", headers=admin.headers)
    assert r.status_code == 200
    rep = r.json()
    assert rep["systems"] == 2 and rep["compliant"] == 1 and rep["by_rule"]["KT-03"]["fail"] == 1
    assert (
        client.get(f"/api/v1/governance/agencies/{CONGAN}/compliance", headers=admin.headers).status_code
        == 404
    )
    rules = client.get("/api/v1/governance/rules", headers=admin.headers).json()
    assert len(rules) >= 9 and all(x["section"] and x["quote"] for x in rules)


def test_live_measures_feed_the_rules(db, factory):
    """The rules read other modules' measures through the hook: a conformity figure turns a warning into a verdict."""
    with db.transaction() as s:
        system = RegisteredSystem(
            code="X",
            agency_code=TUPHAP,
            name="X",
            layer="data",
            status="live",
            entities_mastered=["cong_dan"],
            integration="lgsp",
            services_exposed=[],
            results=[],
        )
        s.add(system)
        s.flush()
        results = {r.rule_code: r for r in compliance.evaluate(s, system, {})}
        assert results["KT-04"].verdict == "warn" and results["KT-04"].source == "declared"

        def conformity(session, since, until, agency):  # noqa: ANN001 - the data module's measure signature
            return 85.0 if agency == TUPHAP else None

        def calls(session, since, until, agency):  # noqa: ANN001
            return 0.0

        results = {
            r.rule_code: r
            for r in compliance.evaluate(
                s, system, {"data.quality.overall": conformity, "exchange.calls": calls}
            )
        }
        assert results["KT-04"].verdict == "fail" and results["KT-04"].source == "live"
        assert results["KT-01"].verdict == "warn" and results["KT-01"].source == "live"

        def broken(session, since, until, agency):  # noqa: ANN001
            raise RuntimeError("boom")

        results = {r.rule_code: r for r in compliance.evaluate(s, system, {"exchange.calls": broken})}
        assert results["KT-01"].verdict == "warn" and "boom" in results["KT-01"].evidence["params"]["error"]
        assert results["KT-06"].verdict == "fail"  # the other rules still ran
