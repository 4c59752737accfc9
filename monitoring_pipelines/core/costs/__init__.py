"""Token usage and cost: the day's costs, stored rows, repricing, the month's budget."""
