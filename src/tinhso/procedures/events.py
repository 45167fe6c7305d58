"""Event topics the procedures module publishes (payloads: see dossiers.payload)."""

DOSSIER_TOPICS = "procedures.dossier.*"  # received, assign, start_review, …, warning, overdue
PAYMENT_TOPICS = "procedures.payment.*"  # paid, failed, refunded
