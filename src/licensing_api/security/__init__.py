"""Hostile-input defences: body size limit, security headers, CORS, failed key lookup limiter."""
