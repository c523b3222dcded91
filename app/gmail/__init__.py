"""Gmail API access: the client (paced, metered, batched), retry policy, MIME parsing."""
