"""Deterministic synthetic demo data shaped like the AUC area."""
