"""Kedro hooks of this project; ``settings.HOOKS`` registers them."""
