"""PLC rules as plain functions over plain data: no Slack, no database session.

They are shared by the Slack handlers, the scheduler and (later) a Microsoft Teams front.
"""
