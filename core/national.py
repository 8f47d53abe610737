"""The national lists every site is reported against: Finland's regions and the authorities of
the joint service points. A site names its region (and municipality) in [site]; each service
names its authority, so "Kela" is one row across every site whatever the service's local id.

Declared once, here: the site configuration validates against these ids, the central store
reports by them, and the names are what the reports show (fi, sv, en).
"""
from __future__ import annotations

#: Finland's regions (maakunnat / landskap), with Åland; the codes of Statistics Finland's
#: classification (MK01…MK21), as a site's `region`.
REGIONS: dict[str, dict[str, str]] = {
    "MK01": {"fi": "Uusimaa", "sv": "Nyland", "en": "Uusimaa"},
    "MK02": {"fi": "Varsinais-Suomi", "sv": "Egentliga Finland", "en": "Southwest Finland"},
    "MK04": {"fi": "Satakunta", "sv": "Satakunta", "en": "Satakunta"},
    "MK05": {"fi": "Kanta-Häme", "sv": "Egentliga Tavastland", "en": "Kanta-Häme"},
    "MK06": {"fi": "Pirkanmaa", "sv": "Birkaland", "en": "Pirkanmaa"},
    "MK07": {"fi": "Päijät-Häme", "sv": "Päijänne-Tavastland", "en": "Päijät-Häme"},
    "MK08": {"fi": "Kymenlaakso", "sv": "Kymmenedalen", "en": "Kymenlaakso"},
    "MK09": {"fi": "Etelä-Karjala", "sv": "Södra Karelen", "en": "South Karelia"},
    "MK10": {"fi": "Etelä-Savo", "sv": "Södra Savolax", "en": "South Savo"},
    "MK11": {"fi": "Pohjois-Savo", "sv": "Norra Savolax", "en": "North Savo"},
    "MK12": {"fi": "Pohjois-Karjala", "sv": "Norra Karelen", "en": "North Karelia"},
    "MK13": {"fi": "Keski-Suomi", "sv": "Mellersta Finland", "en": "Central Finland"},
    "MK14": {"fi": "Etelä-Pohjanmaa", "sv": "Södra Österbotten", "en": "South Ostrobothnia"},
    "MK15": {"fi": "Pohjanmaa", "sv": "Österbotten", "en": "Ostrobothnia"},
    "MK16": {"fi": "Keski-Pohjanmaa", "sv": "Mellersta Österbotten", "en": "Central Ostrobothnia"},
    "MK17": {"fi": "Pohjois-Pohjanmaa", "sv": "Norra Österbotten", "en": "North Ostrobothnia"},
    "MK18": {"fi": "Kainuu", "sv": "Kajanaland", "en": "Kainuu"},
    "MK19": {"fi": "Lappi", "sv": "Lappland", "en": "Lapland"},
    "MK21": {"fi": "Ahvenanmaa", "sv": "Åland", "en": "Åland"},
}

#: The authorities of the joint service points, as a service's `authority`.
AUTHORITIES: dict[str, dict[str, str]] = {
    "neuvonta": {"fi": "Yleisneuvonta", "sv": "Allmän rådgivning", "en": "General advice"},
    "kela": {"fi": "Kela", "sv": "FPA", "en": "Kela"},
    "poliisi": {"fi": "Poliisi", "sv": "Polisen", "en": "Police"},
    "vero": {"fi": "Verohallinto", "sv": "Skatteförvaltningen", "en": "Tax Administration"},
    "dvv": {"fi": "Digi- ja väestötietovirasto", "sv": "Myndigheten för digitalisering och befolkningsdata",
            "en": "Digital and Population Data Services Agency"},
    "te": {"fi": "Työllisyyspalvelut", "sv": "Sysselsättningstjänster", "en": "Employment services"},
    "migri": {"fi": "Maahanmuuttovirasto", "sv": "Migrationsverket", "en": "Finnish Immigration Service"},
    "mml": {"fi": "Maanmittauslaitos", "sv": "Lantmäteriverket", "en": "National Land Survey"},
    "ulosotto": {"fi": "Ulosottolaitos", "sv": "Utsökningsverket", "en": "National Enforcement Authority"},
    "oikeusapu": {"fi": "Oikeusaputoimisto", "sv": "Rättshjälpsbyrå", "en": "Public legal aid office"},
    # Since 1 January 2026 the regional state administrative agencies (AVI) and the ELY centres'
    # tasks belong to these two.
    "lupavalvonta": {"fi": "Lupa- ja valvontavirasto", "sv": "Tillstånds- och tillsynsverket",
                     "en": "Permit and Supervision Agency"},
    "elinvoima": {"fi": "Elinvoimakeskus", "sv": "Livskraftscentralen", "en": "Regional vitality centre"},
    "rise": {"fi": "Rikosseuraamuslaitos", "sv": "Brottspåföljdsmyndigheten", "en": "Criminal Sanctions Agency"},
    "digituki": {"fi": "Digituki", "sv": "Digistöd", "en": "Digital support"},
    "kunta": {"fi": "Kunnan palvelut", "sv": "Kommunens tjänster", "en": "Municipal services"},
    "muu": {"fi": "Muu", "sv": "Annan", "en": "Other"},
}

#: Service ids of older configurations that name an authority that no longer exists.
FORMER: dict[str, str] = {"avi": "lupavalvonta", "ely": "elinvoima"}

#: Where a service that names no authority, and whose id is none, is reported.
OTHER = "muu"


def authority_of(service_id: str, configured: str | None = None) -> str:
    """The national authority a service is reported under: its configured `authority`, else its
    id when that is one (or a former one), else "muu"."""
    if configured:
        return configured
    if service_id in AUTHORITIES:
        return service_id
    return FORMER.get(service_id, OTHER)
