"""Views: thin HTTP layers that read the request, call the data plane (`api.dataplane`), and shape responses.

Which view answers which method and rule is the route table's (`api.routes.table`), not the views'.
"""
