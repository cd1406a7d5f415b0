"""Robustness evaluation: seeded, resource-free text perturbations of canonical records."""
