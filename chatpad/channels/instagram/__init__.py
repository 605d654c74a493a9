"""Instagram DMs: professional accounts linked to Facebook Pages, through Meta's webhooks and the Send API."""
