"""The platform-neutral assistant: intents, matching, languages, furigana, replies."""
