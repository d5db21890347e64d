"""HeyGen's API as vidbuild speaks it: the routes it knows, the HTTP client, and the choice of
HeyGen or the embedded emulator."""
