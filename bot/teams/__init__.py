"""The Microsoft Teams front: its app package (`manifest`, `icons`) and the Adaptive Card
renderers of the core's view models (`cards`, registered in `bot.teams_views`)."""
