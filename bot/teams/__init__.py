"""Microsoft Teams' front: Adaptive Card renderers of the core's view models (`bot.teams.cards`)."""
