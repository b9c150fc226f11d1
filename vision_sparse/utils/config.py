"""Options of configurable components: one way to merge user options into defaults.

Every component with a ``default_conf`` dict (LightGlue style) takes its options as
keyword arguments and merges them with :func:`merge_conf`, which refuses unknown
names with a message that lists the valid ones.
"""
from typing import Any, Dict, Mapping, Optional

__all__ = ['merge_conf']


def merge_conf(default_conf: Mapping[str, Any], conf: Optional[Mapping[str, Any]],
               owner: str) -> Dict[str, Any]:
    """Defaults updated with user options, refusing unknown option names.

    Args:
        default_conf (Mapping): every valid option with its default value.
        conf (Mapping, optional): the user's options (a subset of the defaults' keys).
        owner (str): the component's name, used in the error message.

    Returns:
        dict: a new dict ``{**default_conf, **conf}``.

    Raises:
        ValueError: if ``conf`` names an option that ``default_conf`` does not have.
    """
    conf = dict(conf or {})
    unknown = sorted(set(conf) - set(default_conf))
    if unknown:
        raise ValueError(f'{owner} got unknown options {unknown}; '
                         f'valid options: {sorted(default_conf)}')
    return {**default_conf, **conf}
