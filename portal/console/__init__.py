"""The staff console at /console/: the fleet, hosts, every tenant's instances, live migrations,
maintenance, balancing and the placement dry run, in the self-service pages' look (htmx partials).

Thin like every surface: each view parses, checks staff, makes one service or selector call and
renders. Staff only: anonymous visitors go to the login page, signed-in non-staff get 403.
"""
