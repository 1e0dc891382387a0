"""The fleet at a glance: allocation per zone and per host, hosts and instances per state, what is in
flight, the imbalance, the latest events. The live part refreshes by htmx polling."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from provisioning.selectors import fleet_overview

from ...web.htmx import render_page_or_fragment
from ..access import staff_required

# Poll quickly while something moves, at a modest pace otherwise (new work appears within that).
POLL_BUSY_S, POLL_IDLE_S = 2, 15


@staff_required
def fleet(request: HttpRequest) -> HttpResponse:
    overview = fleet_overview()
    context = {"section": "console", "page": "fleet", "o": overview,
               "poll_s": POLL_BUSY_S if overview.in_flight else POLL_IDLE_S}
    return render_page_or_fragment(request, "console/fleet.html", "console/_fleet_live.html", context)
