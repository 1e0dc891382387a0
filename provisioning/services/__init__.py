"""Business rules as plain functions (writes) shared by the web, REST and EC2 surfaces."""
