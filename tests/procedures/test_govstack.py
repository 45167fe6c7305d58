"""GovStack Registration building-block API shapes over the same dossiers."""

from __future__ import annotations

from .conftest import LLTP, TUPHAP, lltp_form

G = "/api/v1/procedures/govstack"


def test_services_eforms_applications_tasks_documents_statistics(client, factory):
    citizen = factory.citizen()
    official = factory.person(("official",), TUPHAP)
    services = client.get(f"{G}/services", params={"name": "ly lich"}).json()
    assert [s["serviceKey"] for s in services] == [LLTP] and services[0]["isExecutable"] is True
    assert client.get(f"{G}/services/9.999999").status_code == 404
    forms = client.get(f"{G}/eForms/{LLTP}").json()
    form = client.get(f"{G}/eForms/{forms[0]['eFormId']}").json()
    assert form["schema"]["properties"]["personal_id"]["pattern"] == "^[0-9]{12}$"
    up = client.post(
        f"{G}/documents",
        files={"file": ("cccd.png", b"\x89PNG\r\n\x1a\nxx", "image/png")},
        headers=citizen.headers,
    ).json()
    assert up["code"] == 200 and up["url"].endswith("/content")
    pid = citizen.principal.personal_id
    data = lltp_form(pid)
    body = {
        "applicantId": pid,
        "formData": {"data": data, "eFormId": f"F{LLTP}"},
        "documentUrls": [up["url"]],
    }
    r = client.post(f"{G}/services/{LLTP}/applications", json=body, headers=citizen.headers)
    assert r.status_code == 200, r.text
    app = r.json()
    assert app["status"]["code"] == "PENDING" and app["ended"] is False
    file_id = app["fileId"]
    bad = body | {"applicantId": "040199999999"}
    assert (
        client.post(f"{G}/services/{LLTP}/applications", json=bad, headers=citizen.headers).status_code == 422
    )
    assert [a["fileId"] for a in client.get(f"{G}/applications", headers=citizen.headers).json()] == [file_id]
    assert client.get(f"{G}/tasks", headers=citizen.headers).json()[0]["name"] == "withdraw"
    tasks = client.get(f"{G}/tasks", params={"fileId": file_id}, headers=official.headers).json()
    names = {t["name"] for t in tasks}
    assert {"assign", "request_supplement", "refuse"} <= names
    t = client.get(f"{G}/tasks/{file_id}:assign", headers=official.headers).json()
    r = client.post(
        f"{G}/tasks/{file_id}:assign/complete",
        json={"data": {"version": t["data"]["version"]}},
        headers=official.headers,
    )
    assert r.status_code == 200 and r.json()["status"]["code"] == "PENDING"
    r = client.post(
        f"{G}/tasks/{file_id}:assign/complete",
        json={"data": {"version": t["data"]["version"]}},
        headers=official.headers,
    )
    assert r.status_code == 409
    assert client.get(f"{G}/tasks/{file_id}:fly", headers=official.headers).status_code == 404
    stranger = factory.person(("official",), "000.00.08.H41")
    assert client.get(f"{G}/applications/{file_id}", headers=stranger.headers).status_code == 404
    stats = client.get(f"{G}/data/statistics/1.0", headers=official.headers).json()
    assert stats["total"] == 1 and stats["byService"][0]["serviceKey"] == LLTP
    assert client.get(f"{G}/applications").status_code == 401
