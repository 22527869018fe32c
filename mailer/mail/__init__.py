"""Mail in and out: sources, parsing, automation, reply text, rendering, composing, outbox, SMTP."""
