"""What the bot says, as plain data: one view model per thing shown (a check-in card, an agenda,
a digest summary, a support request, …).

The core builds these from the rules and the data; each chat front renders them natively (Slack:
Block Kit in `bot/render`; Teams: Adaptive Cards). They hold facts and the actions offered, never
markup, mentions or platform ids of buttons, so two fronts can each look their best.
"""
