"""Facebook Messenger: Page conversations through Meta's webhooks and Send API."""
