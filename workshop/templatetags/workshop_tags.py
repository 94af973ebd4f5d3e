from typing import Any

from django import template
from django.utils.html import format_html_join

from workshop.page_constants import attributes

register = template.Library()


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key)


@register.simple_tag
def page_constants(page: str) -> str:
    """The server's constants for one page's script, as data- attributes (workshop/page_constants.py)."""
    return format_html_join(" ", '{}="{}"', attributes(page).items())
