"""newsmon's benchmark: generated crisis-news articles and `make bench` (see docs/benchmark.md)."""
