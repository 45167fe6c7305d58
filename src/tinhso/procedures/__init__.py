"""Administrative procedures (TTHC): catalog, dossiers across the province, e-data store, Decision 766 index."""
