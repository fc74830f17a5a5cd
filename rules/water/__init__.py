"""Water rules for the homes of elderly people living alone."""
