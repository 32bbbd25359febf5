"""Posteriors of a problem's parameters."""
