"""Operations: Prometheus `/metrics`, request ids, JSON access logs, secret redaction."""
