"""The shared core below the capability rooms: what cuts across them, written once."""
