"""The Lambda entry point (`handler.handler`): the Treeport app behind API Gateway or an ALB (`api.lambda_adapter`).

The runtime imports this module once per execution environment, from the task root.
"""

from api.lambda_adapter import build_handler

# Built at import on purpose: Lambda's init phase (not billed per request, and run once per
# execution environment) is where the settings are read and the model is loaded; a model that does not
# load fails the init (see `build_handler`).
handler = build_handler()
