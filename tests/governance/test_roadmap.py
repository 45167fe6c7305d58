"""The roadmap: import and normalisation of the 142 tasks, progress by agencies, lateness, the annual report."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from tests.factories import CONGAN, SKHCN, TUPHAP
from tinhso.governance import roadmap, service
from tinhso.governance.models import Alert, RoadmapTask, TaskProgress
from tinhso.kit.errors import Unprocessable
from tinhso.kit.events import OutboxEvent, wait_until_dispatched

TASKS = "/api/v1/governance/tasks"


@pytest.mark.parametrize(
    ("text", "start", "due", "recurrence"),
    [
        ("2026- 2030", date(2026, 1, 1), date(2030, 12, 31), "once"),
        ("Năm 2026- 2030.", date(2026, 1, 1), date(2030, 12, 31), "once"),
        ("2026 - 1 2027", date(2026, 1, 1), date(2027, 12, 31), "once"),
        ("Năm 2026.", date(2026, 1, 1), date(2026, 12, 31), "once"),
        ("Giai đoạn 2025- 2030", date(2025, 1, 1), date(2030, 12, 31), "once"),
        ("Trước tháng 12/2026", None, date(2026, 11, 30), "once"),
        ("Hàng năm.", None, None, "annual"),
        ("Thường xuyên, liên tục", None, None, "continuous"),
        ("Theo hướng dẫn của các cơ quan Đảng ở Trung ương.", None, None, "guided"),
        ("", None, None, "unspecified"),
    ],
)
def test_deadlines_are_normalised(text, start, due, recurrence):
    d = roadmap.parse_deadline(text)
    assert (d.start_on, d.due_on, d.recurrence) == (start, due, recurrence)


@pytest.mark.parametrize("text", ["sớm nhất có thể", "Trước tháng 13/2026"])
def test_unreadable_deadlines_are_refused(text):
    with pytest.raises(ValueError):
        roadmap.parse_deadline(text)


def test_import_links_agencies_and_reports_what_did_not_match(tasks):
    with tasks.transaction() as s:
        assert s.scalar(select(func.count()).select_from(RoadmapTask)) == 142
        t = s.scalar(select(RoadmapTask).where(RoadmapTask.code == "IV.2.24"))
        assert t is not None
        me = service.get_task(s, _admin(), "IV.2.24")
        assert {(a.agency_code, a.role) for a in me.agencies} >= {(SKHCN, "lead")}
        typo = s.scalars(
            select(RoadmapTask).where(RoadmapTask.coordinating_text.contains("Công tỉnh"))
        ).first()
        typo = service.get_task(s, _admin(), typo.id)
        assert CONGAN in {a.agency_code for a in typo.agencies}  # "Công tỉnh" (sic) is the police
        report = roadmap.load_bundled(s)
        assert report.created == 0 and report.updated == 142 and not report.rejected
        assert s.scalar(select(func.count()).select_from(RoadmapTask)) == 142
        texts = {u["text"] for u in report.unmatched}
        assert "ban to chuc tinh uy" in texts  # a party body, not an agency of the platform
        kinds = {c["group"] for t in s.scalars(select(RoadmapTask)) for c in t.collectives}
        assert kinds == {"departments", "communes"}


def test_broken_csv_rows_are_rejected_and_the_rest_loads(db):
    header = "section,section_title,group,group_title,number,parent_number,task,lead,coordinating,deadline\n"
    good = 'I,Cơ chế,I,Cơ chế,1,,Nhiệm vụ tốt,Sở Tư pháp,"Các sở, ban, ngành",2026\n'
    rows = [
        "I,Cơ chế,I,Cơ chế,2,,Thiếu ô\n",
        "X1,Cơ chế,I,Cơ chế,3,,Mục sai,Sở Tư pháp,,2026\n",
        "I,Cơ chế,I,Cơ chế,4,,,Sở Tư pháp,,2026\n",
        "I,Cơ chế,I,Cơ chế,5,,Hạn lạ,Sở Tư pháp,,khi nào xong\n",
        "I,Cơ chế,I,Cơ chế,1,,Trùng mã,Sở Tư pháp,,2026\n",
    ]
    with db.transaction() as s:
        s.execute(RoadmapTask.__table__.delete())
        report = roadmap.import_tasks(s, header + good + "".join(rows))
        assert report.created == 1
        assert [r["line"] for r in report.rejected] == [3, 4, 5, 6, 7]
        task = s.scalar(select(RoadmapTask))
        assert task.code == "I.1" and task.due_on == date(2026, 12, 31)
    with db.transaction() as s, pytest.raises(Unprocessable):
        roadmap.import_tasks(s, "a,b\n1,2\n")


def _admin():
    from tinhso.identity.principal import Principal

    return Principal(kind="person", id="x", name="x", agency_code=SKHCN, roles=frozenset({"platform_admin"}))


def test_lead_agency_reports_progress_once_per_retry(client, factory, tasks):
    admin = factory.person(("agency_admin", "official"), agency=SKHCN)
    body = {
        "status": "in_progress",
        "percent": 40,
        "comment": "Đang triển khai",
        "evidence": [{"title": "Kế hoạch 77/KH-SKHCN", "url": "https://skhcn.nghean.gov.vn/kh77.pdf"}],
    }
    headers = admin.headers | {"Idempotency-Key": "abc-1"}
    r = client.post(f"{TASKS}/IV.2.24/progress", json=body, headers=headers)
    assert r.status_code == 201, r.text
    again = client.post(f"{TASKS}/IV.2.24/progress", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    task = client.get(f"{TASKS}/IV.2.24", headers=admin.headers).json()
    assert task["status"] == "in_progress" and task["percent"] == 40 and task["last_reported_at"]
    history = client.get(f"{TASKS}/IV.2.24/progress", headers=admin.headers).json()
    assert len(history) == 1 and history[0]["evidence"][0]["title"].startswith("Kế hoạch")
    done = client.post(
        f"{TASKS}/{task['id']}/progress", json={"status": "done", "percent": 10}, headers=admin.headers
    )
    assert done.json()["percent"] == 100
    with tasks.transaction() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.topic == "governance.task.progress")
            )
            == 2
        )


def test_progress_on_a_task_the_agency_does_not_own_is_refused(client, factory, tasks):
    other = factory.person(
        ("agency_admin",), agency=TUPHAP
    )  # Sở Tư pháp neither leads nor coordinates II.1.1
    r = client.post(
        f"{TASKS}/II.1.1/progress", json={"status": "done", "percent": 100}, headers=other.headers
    )
    assert r.status_code == 403 and r.json()["code"] == "task_not_yours"
    official = factory.person(("official",), agency=SKHCN)  # right agency, but not its administrator
    r = client.post(
        f"{TASKS}/II.1.1/progress", json={"status": "done", "percent": 100}, headers=official.headers
    )
    assert r.status_code == 403
    citizen = factory.citizen()
    assert client.get(TASKS, headers=citizen.headers).status_code == 403
    bad = client.post(
        f"{TASKS}/II.1.1/progress",
        json={"status": "done", "percent": 150},
        headers=factory.person(("agency_admin",), agency=SKHCN).headers,
    )
    assert bad.status_code == 422
    assert (
        client.post(
            f"{TASKS}/IX.9/progress", json={"status": "done", "percent": 1}, headers=other.headers
        ).status_code
        == 404
    )
    with tasks.transaction() as s:
        assert s.scalar(select(func.count()).select_from(TaskProgress)) == 0
        assert s.scalar(select(RoadmapTask.status).where(RoadmapTask.code == "II.1.1")) == "not_started"


def test_coordinators_add_history_without_setting_status(client, factory, tasks):
    # II.1.1 is led by Sở KH&CN and coordinated by every department (collective "Các sở, ban, ngành").
    coord = factory.person(("agency_admin",), agency=TUPHAP)
    r = client.get(
        TASKS, params={"agency_code": TUPHAP, "role": "coordinating"}, headers=coord.headers
    ).json()
    codes = {t["code"] for t in r["items"]}
    target = next(c for c in codes if c in {"I.2", "I.3"})
    assert (
        client.post(
            f"{TASKS}/{target}/progress", json={"status": "in_progress", "percent": 20}, headers=coord.headers
        ).status_code
        == 201
    )
    assert client.get(f"{TASKS}/{target}", headers=coord.headers).json()["status"] == "not_started"


def test_lateness_reminders_and_alerts(client, factory, tasks):
    with tasks.transaction() as s:
        t = s.scalar(select(RoadmapTask).where(RoadmapTask.code == "I.1"))
        t.due_on = date(2026, 1, 31)
        continuous = s.scalar(select(RoadmapTask).where(RoadmapTask.recurrence == "continuous"))
        assert roadmap.is_late(t, date(2026, 2, 1)) and not roadmap.is_late(t, date(2026, 1, 31))
        assert roadmap.is_late(continuous, date(2026, 7, 1)) and not roadmap.is_late(
            continuous, date(2026, 6, 1)
        )
        continuous.last_reported_at = datetime(2026, 6, 1, tzinfo=UTC)
        assert not roadmap.is_late(continuous, date(2026, 7, 1))
        now = datetime(2026, 3, 1, 3, tzinfo=UTC)
        first = service.notify_overdue(s, now)
        assert first >= 1
        assert service.notify_overdue(s, now + timedelta(days=1)) == 0  # reminded once
    wait_until_dispatched(tasks)
    with tasks.transaction() as s:
        alerts = list(s.scalars(select(Alert).where(Alert.topic == "governance.task.overdue")))
        assert len(alerts) == first
    admin = factory.person(("leader",), agency="000.00.00.H41")
    late = client.get(TASKS, params={"late": True, "page_size": 500}, headers=admin.headers).json()
    assert "I.1" in {t["code"] for t in late["items"]}


def test_annual_report_in_one_click(client, factory, tasks):
    admin = factory.person(("agency_admin",), agency=SKHCN)
    client.post(
        f"{TASKS}/IV.2.24/progress",
        json={"status": "in_progress", "percent": 40, "comment": "Báo cáo năm"},
        headers=admin.headers,
    )
    year = datetime.now(UTC).year
    r = client.get("/api/v1/governance/roadmap/report.xlsx", params={"year": year}, headers=admin.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(r.content))
    ws = wb.worksheets[0]
    rows = list(ws.iter_rows(min_row=5, values_only=True))
    assert len(rows) > 50
    row = next(x for x in rows if x[0] == "IV.2.24")
    assert row[8] == 40 and row[11] == "Báo cáo năm"
    assert ws.cell(4, 1).value == "Nhiệm vụ"  # Vietnamese by default
    en = load_workbook(
        io.BytesIO(
            client.get(
                "/api/v1/governance/roadmap/report.xlsx",
                params={"year": year, "lang": "en"},
                headers=admin.headers,
            ).content
        )
    )
    assert en.worksheets[0].cell(4, 1).value == "Task"
    page = client.get("/governance/roadmap/report", params={"year": year}, headers=admin.headers)
    assert page.status_code == 200 and "IV.2.24" in page.text and "window.print()" in page.text
    assert (
        client.get(
            "/api/v1/governance/roadmap/report.xlsx", params={"year": 1990}, headers=admin.headers
        ).status_code
        == 422
    )
    assert client.get("/api/v1/governance/roadmap/report.xlsx").status_code == 401
