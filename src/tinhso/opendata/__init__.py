"""Open-data portal (Cổng dữ liệu tỉnh): CKAN-compatible API, DCAT-AP catalog, publishing from the warehouse."""
