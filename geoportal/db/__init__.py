"""Database access: the private cluster, URLs, the schema and the connection pool."""
