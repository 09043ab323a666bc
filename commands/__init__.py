"""What a user of the pack runs (`python -m commands.<name>` from the repository root)."""
