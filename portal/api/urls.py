"""REST API under /api/v1/, schema and Swagger UI."""
urlpatterns: list = []
