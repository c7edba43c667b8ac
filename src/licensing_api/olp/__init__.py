"""RSL's Open License Protocol: the license server (`/olp/token`, `/olp/introspect`) and the
license tokens crawlers present as `Authorization: License <token>`."""
