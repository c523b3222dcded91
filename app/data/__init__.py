"""What the web layer asks of the database: one query module per table family."""
