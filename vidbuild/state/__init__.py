"""What has been claimed, sent, rendered and downloaded, per content hash: the protocol and its
claim rules, the disk store, the PostgreSQL store, and where state lives."""
