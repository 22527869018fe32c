"""The pure domain of a transition: requests, questionnaire, contacts, playbooks, workbooks.

Imports nothing of mail, state, flows or config (checked by lint-imports)."""
