"""The Microsoft Teams front: its app package, and (beside it) the parts that serve Teams."""
