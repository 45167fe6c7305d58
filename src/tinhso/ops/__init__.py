"""Operations: running the platform as a data-centre deployment (several processes behind a reverse proxy)."""
