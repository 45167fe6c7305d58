"""Governance: registry of information systems, compliance, roadmap, KPIs and the IOC."""
