"""Memory of the long-running processes: what the soak found growing stays bounded, and the diagnostic switch
that found it reports what grew."""

from __future__ import annotations

import threading
import time
import tracemalloc

from tinhso.environment import notify
from tinhso.ops import memtrace
from tinhso.procedures import sync


def test_the_national_portal_stand_in_keeps_only_recent_records():
    # The worker sends every dossier event to it: in the 10-minute soak it held every record ever sent
    # (json-decoded payloads, about 0.3 MiB a minute at the nominal rate).
    double = sync.NationalPortalTestDouble()
    refs = [double.send({"MaHoSo": f"H41.{i:06d}"}) for i in range(sync.RECENT + 250)]
    assert len(set(refs)) == len(refs)  # every record is still accepted with its own reference
    assert len(double.received) == sync.RECENT
    assert double.received[0]["MaHoSo"] == "H41.000250"  # the oldest went, the newest stay
    assert double.received[-1]["MaHoSo"] == f"H41.{sync.RECENT + 249:06d}"


def test_the_sms_and_email_stand_in_keeps_only_recent_messages():
    # Same pattern in the worker: every alert it raises or escalates is sent through this stand-in.
    double = notify.SmsEmailGatewayTestDouble()
    for i in range(notify.RECENT + 10):
        double.send("sms", "0987654321", f"cảnh báo {i}")
    assert len(double.sent) == notify.RECENT
    assert double.sent[0][2] == "cảnh báo 10" and double.sent[-1][2] == f"cảnh báo {notify.RECENT + 9}"


def test_the_memory_trace_is_off_by_default_and_reports_growth_when_asked(tmp_path, monkeypatch):
    stop = threading.Event()
    monkeypatch.delenv(memtrace.ENV, raising=False)
    assert memtrace.start_from_env(tmp_path, stop) is None
    assert not tracemalloc.is_tracing() and list(tmp_path.iterdir()) == []

    monkeypatch.setenv(memtrace.ENV, "0.005")  # every 0.3 s
    thread = memtrace.start_from_env(tmp_path, stop)
    kept = []
    try:
        assert thread is not None
        deadline = time.monotonic() + 180  # a loaded machine takes its time
        while time.monotonic() < deadline:
            kept.append([f"grows-{i}" * 20 for i in range(200)])
            files = list(tmp_path.glob("memtrace-*.txt"))
            if files and files[0].read_text(encoding="utf-8").count("== ") >= 2:
                break
            time.sleep(0.1)
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=10)
        tracemalloc.stop()
    text = files[0].read_text(encoding="utf-8")
    assert text.count("== ") >= 2, text
    assert "rss" in text and "traced" in text
    second = text.split("== ")[2]
    assert "test_memory.py" in second.split("-- object types")[0]  # the growing line is named
