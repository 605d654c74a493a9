"""Tour booking from a location's own calendars (docs/booking.md)."""
