"""`/console`: the publisher's operator console (signed in with `ADMIN_TOKEN`)."""
