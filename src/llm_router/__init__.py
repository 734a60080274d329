"""llm-router: decide, for each user query, which LLM should answer it - accurately and fast."""

__version__ = "0.1.0"

DEFAULT_ROUTES = ("gpt-o1", "Claude", "gemini-mini")
