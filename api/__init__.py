"""Treeport's HTTP layer: one Flask app for every target (gunicorn, Lambda, SageMaker)."""
