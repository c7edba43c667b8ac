"""The operator API `/admin/*`: customers, subscriptions, keys, plans, usage reports."""
