"""Shared core: settings, topics, contract models, logging, metrics, Kafka clients."""
