"""Data: the shared data dictionary, digital registries, the data warehouse, quality scores and record linkage."""
