"""Treeport's web-free core: schema, data, preprocessing, training, bundles, stores and the Predictor."""
