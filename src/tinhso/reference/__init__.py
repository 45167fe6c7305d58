"""Reference data: the province and its communes (đơn vị hành chính cấp xã, 2025)."""
