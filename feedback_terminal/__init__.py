"""Feedback terminal: the smiley app at the exit, its physical buttons and misuse detection."""
