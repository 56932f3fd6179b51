"""Real-music corpora fetched by explicit recipe commands (never at run time)."""
