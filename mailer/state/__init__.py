"""SQLite state: schema and migrations, transition records, reply tokens."""
