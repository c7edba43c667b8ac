"""Verified bots as customers: a crawler's Web Bot Auth identity (a key directory or uploaded
JWKs) registered to a customer, so its signed requests need no API key."""
