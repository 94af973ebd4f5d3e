"""The organisation context a facilitator may give a session, kept in its anonymised archive:
type of organisation, size class, region and free text. Choices for the forms and the
research filters; an abstract model for Session and Archive alike."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class OrganisationType(models.TextChoices):
    MUNICIPALITY = "municipality", _("Municipality")
    COOPERATION = "cooperation", _("Cooperation of municipalities")
    HOUSING = "housing", _("Housing association")
    WELFARE = "welfare", _("Welfare or care organisation")
    OTHER = "other", _("Other")


class SizeClass(models.TextChoices):
    S = "s", _("under 50,000 inhabitants")
    M = "m", _("50,000 to 100,000 inhabitants")
    L = "l", _("100,000 to 250,000 inhabitants")
    XL = "xl", _("over 250,000 inhabitants")


class Region(models.TextChoices):
    GR = "gr", "Groningen"
    FR = "fr", "Friesland"
    DR = "dr", "Drenthe"
    OV = "ov", "Overijssel"
    FL = "fl", "Flevoland"
    GE = "ge", "Gelderland"
    UT = "ut", "Utrecht"
    NH = "nh", "Noord-Holland"
    ZH = "zh", "Zuid-Holland"
    ZE = "ze", "Zeeland"
    NB = "nb", "Noord-Brabant"
    LI = "li", "Limburg"


class Context(models.Model):
    """Optional context the facilitator gives, kept in the anonymised archive."""

    organisation_type = models.CharField(
        _("type of organisation"), max_length=20, choices=OrganisationType.choices, blank=True
    )
    size_class = models.CharField(_("size"), max_length=8, choices=SizeClass.choices, blank=True)
    region = models.CharField(_("region"), max_length=4, choices=Region.choices, blank=True)
    context = models.TextField(_("context"), max_length=1000, blank=True)

    class Meta:
        abstract = True
