"""What each kind of event does: a request, a book, an answer, a command, a due step, the digest."""
