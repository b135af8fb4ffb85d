"""Treeport: train an XGBoost model once, serve it daal4py-accelerated on AWS."""
