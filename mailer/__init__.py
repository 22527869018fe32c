"""mailer: an email-driven assistant that runs customer account hand-overs between CSMs."""

__version__ = "0.1.0"
