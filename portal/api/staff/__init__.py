"""The staff (operator) REST API under /api/v1/staff/: the fleet, every tenant's instances, and the
live operations on them. Staff only: a non-staff token gets 403 on every endpoint, an anonymous
caller 401. Thin like the rest of the API: parse, authorize, one service or selector call, render.
"""
