"""Serving: an OpenAI-compatible HTTP server for a local model, and a human-voting page for the arena."""
