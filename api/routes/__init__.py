"""Blueprints: thin HTTP layers that parse, call the model layer, and shape responses."""
