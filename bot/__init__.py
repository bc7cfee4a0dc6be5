"""Composition root: config, CLI, web server, wiring."""
