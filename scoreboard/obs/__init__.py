"""Operations: Prometheus metrics and JSON logs."""
