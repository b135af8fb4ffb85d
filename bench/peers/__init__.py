"""The servers Treeport is measured against, each a small WSGI app run under the same gunicorn config."""
