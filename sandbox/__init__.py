"""Local stand-ins for the outside world (Gmail, Google OAuth). Never deployed."""
