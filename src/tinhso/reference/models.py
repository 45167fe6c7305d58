"""Commune — đơn vị hành chính cấp xã (xã, phường, đặc khu) after 01/07/2025."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tinhso.kit.db import Base


class Commune(Base):
    """A commune-level unit with its GSO code and the pre-2025 units it was formed from."""

    __tablename__ = "reference_commune"
    code: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16), index=True)  # xa, phuong, dac_khu
    province_code: Mapped[str] = mapped_column(String(2), index=True)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    merged_from: Mapped[list[Any]] = mapped_column(
        default=list
    )  # [{"code": "17329", "name": "Thị trấn Kim Nhan"}]
    search_text: Mapped[str] = mapped_column(Text, default="")
