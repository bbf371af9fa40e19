"""The pages villagers, cadres, reviewers, clerks and admins use: server-rendered, Chinese, mobile first.

Every page is a thin client of the JSON API, called in-process with the signed-in user's identity, so a page
can never do what the API would refuse, and a form posts through exactly the same checks, idempotency and
audit trail as any other client.
"""
