"""Event topics the governance module publishes (payloads carry codes, never personal data)."""

SYSTEM_REGISTERED = (
    "governance.system.registered"  # {system_id, code, agency_code, status, compliance_failed}
)
SYSTEM_CHANGED = "governance.system.changed"  # same, plus {fields}
COMPLIANCE_EVALUATED = "governance.compliance.evaluated"  # same as SYSTEM_REGISTERED
TASK_PROGRESS = "governance.task.progress"  # {task, agency_code, status, percent}
TASK_OVERDUE = "governance.task.overdue"  # {task, title, lead, due_on, recurrence}: the reminder
KPI_COMPUTED = "governance.kpi.computed"  # {run_id, computed, not_measured, failed}
KPI_ALERT = "governance.kpi.alert"  # {kpi, value, target, alert_threshold}: crossed its alert threshold

# Topics shown as alerts on the IOC.
ALERT_TOPICS = (
    "environment.alert.*",
    "procedures.dossier.overdue",
    "exchange.*.down",
    TASK_OVERDUE,
    KPI_ALERT,
)
