"""File formats the bot writes (the digest's .xlsx workbook): plain data in, bytes out, no chat platform."""
