"""LGSP/LDOP: the provincial integration and data-sharing hub (catalog, rights, gateway, log, pub/sub)."""
