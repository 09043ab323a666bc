"""What a user of the pack runs (`python -m lab.commands.<name>` from the repository root)."""
