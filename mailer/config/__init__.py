"""What CS-ops edit and set: settings, inbox_rules.yaml, YAML with file:line errors."""
