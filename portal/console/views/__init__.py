"""Console views, one module per page (NetBox-style: a list view is declarations on ObjectListView)."""
