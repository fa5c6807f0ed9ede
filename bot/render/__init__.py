"""Pure Block Kit builders: data in, dicts out. They escape user text and keep Slack's limits."""
