"""newsmon: streaming news monitoring."""
