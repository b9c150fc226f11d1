"""Argument checks shared by components: one message for one kind of mistake."""
from typing import Any, Sequence

__all__ = ['check_choice']


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """Refuse a value that is not one of the allowed choices.

    Args:
        name (str): the argument's name, used in the message.
        value: the value given.
        choices (Sequence): the allowed values.

    Returns:
        The value, unchanged.

    Raises:
        ValueError: ``"{name} must be one of {choices}, got {value!r}"``.
    """
    if value not in choices:
        raise ValueError(f'{name} must be one of {tuple(choices)}, '
                         f'got {value!r}')
    return value
