"""Demo consultations for `manage.py demo`: something real to search, read and download.

Every consultation goes through the services (consultation_create, lots_set, commission_set,
dce_add_files, consultation_publish), so the journal tells the same story as for a real
buyer and the publication rules are checked. The tender documents are small but real: PDFs
written with reportlab and a price schedule in CSV, part of them uploaded as a zip so that
the DCE shows a tree of folders.

Two liberties, both for demo data only:
- publication is dated a few days back (`consultation_publish(now=…)`), so that the list
  shows varied publication dates and each deadline is coherent with its publication date.
  The journal entries themselves carry the real time at which the demo ran;
- the closed consultation is published "45 days ago" with a deadline six days ago, then
  closed by `consultations_close_expired()`, as the periodic task would.

Re-running is safe: a consultation is found by its buyer and reference and left as it is.
The one that closes within the hour is the exception: once it has closed, the next run
publishes a new one (reference with a suffix), so a person starting the demo always finds a
consultation about to close.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from xml.sax.saxutils import escape

from django.conf import settings
from django.utils import timezone

from comptes.models import Membership, Organisation, User

from . import checks, services
from .models import Consultation, CpvCode

PUBLISHED = "published"
DRAFT = "draft"
CLOSED = "closed"
CLOSING_SOON = "closing_soon"
CLOSING_SOON_DELAY = timedelta(minutes=45)
DEMO_UNSCANNED_REASON = (
    "Démonstration : documents d'exemple produits par la plateforme, et aucun antivirus "
    "n'était démarré pour les analyser."
)


@dataclass(frozen=True)
class DemoLot:
    number: int
    title: str
    value: int
    cpv: str
    description: str = ""


@dataclass(frozen=True)
class DemoConsultation:
    buyer: str  # key of demo.management.commands.demo.BUYERS
    reference: str
    title: str
    description: str
    nature: str
    procedure: str
    cpv_main: str
    place_code: str
    value: int  # € excl. VAT; with lots, the sum of the lots' values
    kind: str = PUBLISHED
    published_days_ago: int = 0
    # Days between publication and the deadline (CLOSING_SOON ignores it: now + 45 minutes).
    deadline_days: int = 30
    cpv_additional: tuple[str, ...] = ()
    lots: tuple[DemoLot, ...] = ()
    authority_type: str = "local"
    variants_allowed: bool = False
    two_step_opening: bool = False
    duration: str = "12 mois"
    technical: tuple[str, ...] = ()  # paragraphs of the CCTP
    prices: tuple[tuple[str, str, str], ...] = ()  # price schedule: designation, unit, quantity
    criteria: tuple[tuple[str, int], ...] = (("Valeur technique", 60), ("Prix", 40))


CONTACTS = {
    "demoville": ("Service de la commande publique", "marches@demoville.demo", "01 99 00 12 34"),
    "ille-et-vilaine": (
        "Direction des achats et de la commande publique",
        "commande-publique@ille-et-vilaine.demo",
        "02 61 91 35 00",
    ),
    "eaux-vallee": ("Service des marchés du syndicat", "marches@eaux-vallee.demo", "02 61 91 37 00"),
}

CONSULTATIONS: tuple[DemoConsultation, ...] = (
    DemoConsultation(
        buyer="demoville",
        reference="DV-2026-001",
        title="Réfection de la toiture de l'école élémentaire Jules-Ferry",
        description=(
            "Dépose de la couverture existante en ardoise fibrociment, remplacement par une "
            "couverture en zinc à joint debout, reprise de la zinguerie et isolation des combles "
            "perdus. Travaux à réaliser pendant les vacances scolaires d'été, site occupé à la "
            "rentrée."
        ),
        nature="works",
        procedure="adapted",
        cpv_main="45261000",
        place_code="75",
        value=180_000,
        published_days_ago=6,
        deadline_days=27,
        lots=(
            DemoLot(
                1,
                "Couverture et zinguerie",
                118_000,
                "45261210",
                "Zinc à joint debout, gouttières, descentes.",
            ),
            DemoLot(
                2,
                "Isolation des combles",
                62_000,
                "45320000",
                "Laine minérale soufflée, R de 7 m².K/W au moins.",
            ),
        ),
        variants_allowed=True,
        duration="10 semaines, dont 6 semaines en juillet et août",
        technical=(
            (
                "La toiture à deux pans (environ 1 150 m²) est couverte d'ardoises en fibrociment "
                "posées en 1974. Un repérage amiante avant travaux est joint au dossier : le "
                "désamiantage relève d'une entreprise certifiée (sous-section 3)."
            ),
            (
                "La nouvelle couverture est réalisée en zinc prépatiné à joint debout, sur voliges "
                "ventilées. La zinguerie (chéneaux, gouttières, descentes) est entièrement reprise."
            ),
            (
                "Les combles perdus reçoivent une isolation en laine minérale soufflée d'une "
                "résistance thermique d'au moins 7 m².K/W, conformément aux exigences des certificats "
                "d'économies d'énergie."
            ),
        ),
        prices=(
            ("Installation de chantier et échafaudages", "forfait", "1"),
            ("Dépose de la couverture existante (amiante, sous-section 3)", "m²", "1150"),
            ("Voligeage bois ventilé", "m²", "1150"),
            ("Couverture zinc à joint debout", "m²", "1150"),
            ("Gouttières et descentes d'eaux pluviales", "ml", "186"),
            ("Isolation des combles perdus R ≥ 7", "m²", "980"),
        ),
    ),
    DemoConsultation(
        buyer="demoville",
        reference="DV-2026-002",
        title="Maintenance et évolution du logiciel de gestion des inscriptions scolaires",
        description=(
            "Maintenance corrective et évolutive, hébergement et assistance aux utilisateurs du "
            "portail famille (inscriptions scolaires, restauration, accueil périscolaire). "
            "Accord-cadre à bons de commande d'une durée d'un an reconductible trois fois."
        ),
        nature="services",
        procedure="open",
        cpv_main="72260000",
        cpv_additional=("72212000", "72250000"),
        place_code="75",
        value=380_000,
        published_days_ago=4,
        deadline_days=36,
        duration="1 an, reconductible trois fois",
        technical=(
            (
                "Le portail famille compte environ 9 500 comptes actifs. Il est interfacé avec le "
                "logiciel de facturation de la ville et avec l'annuaire des agents (LDAP)."
            ),
            (
                "Le titulaire assure la maintenance corrective (délai de prise en compte de 4 heures "
                "ouvrées pour une anomalie bloquante), la maintenance évolutive sur bons de commande "
                "et l'hébergement en France, sur une infrastructure qualifiée SecNumCloud ou "
                "équivalente."
            ),
            (
                "Le code source des développements spécifiques est remis à la ville sous licence "
                "libre à chaque version."
            ),
        ),
        prices=(
            ("Maintenance corrective et hébergement (par an)", "an", "1"),
            ("Journée d'ingénieur développement", "jour", "40"),
            ("Journée de chef de projet", "jour", "10"),
            ("Formation des agents (session d'une demi-journée)", "session", "6"),
        ),
        criteria=(("Valeur technique", 50), ("Prix", 40), ("Performance environnementale", 10)),
    ),
    DemoConsultation(
        buyer="demoville",
        reference="DV-2026-003",
        title="Nettoyage et entretien des bâtiments communaux",
        description=(
            "Nettoyage quotidien des locaux administratifs, des écoles et des équipements "
            "sportifs de la ville, vitrerie et remise en état après travaux. Produits "
            "écolabellisés exigés."
        ),
        nature="services",
        procedure="open",
        cpv_main="90910000",
        cpv_additional=("90911200",),
        place_code="75",
        value=670_000,
        published_days_ago=2,
        deadline_days=38,
        lots=(
            DemoLot(1, "Hôtel de ville et bâtiments administratifs", 240_000, "90911200"),
            DemoLot(2, "Écoles maternelles et élémentaires", 310_000, "90911200"),
            DemoLot(3, "Gymnases et piscine municipale", 120_000, "90910000"),
        ),
        duration="3 ans",
        technical=(
            (
                "Les surfaces à entretenir représentent 41 300 m², réparties entre 23 bâtiments "
                "dont la liste, les plans et les fréquences d'intervention figurent en annexe."
            ),
            (
                "Les produits utilisés portent l'Écolabel européen ou un label équivalent ; les "
                "agents sont formés aux gestes et postures et au protocole sanitaire des écoles."
            ),
        ),
        prices=(
            ("Nettoyage quotidien des bureaux", "m²/mois", "8400"),
            ("Nettoyage des salles de classe", "m²/mois", "17600"),
            ("Nettoyage des vestiaires et sanitaires sportifs", "m²/mois", "3200"),
            ("Vitrerie (deux passages par an)", "m²", "5600"),
            ("Remise en état après travaux", "heure", "120"),
        ),
    ),
    DemoConsultation(
        buyer="demoville",
        reference="DV-2026-004",
        kind=DRAFT,
        title="Entretien des espaces verts et des aires de jeux",
        description=(
            "Tonte, taille des haies, désherbage sans produits phytosanitaires et contrôle "
            "des aires de jeux des parcs et squares de la ville."
        ),
        nature="services",
        procedure="adapted",
        cpv_main="77311000",
        cpv_additional=("45112700",),
        place_code="75",
        value=95_000,
        deadline_days=30,
        duration="2 ans",
    ),
    DemoConsultation(
        buyer="demoville",
        reference="DV-2026-005",
        kind=CLOSING_SOON,
        title="Fourniture de denrées alimentaires pour la cuisine centrale",
        description=(
            "Fourniture de produits d'épicerie, de produits laitiers et de fruits et légumes "
            "pour la cuisine centrale (2 300 repas par jour). Au moins 50 % de produits "
            "durables et de qualité, dont 20 % issus de l'agriculture biologique (loi EGalim)."
        ),
        nature="supplies",
        procedure="adapted",
        cpv_main="15000000",
        cpv_additional=("15800000",),
        place_code="75",
        value=88_000,
        published_days_ago=18,
        duration="1 an",
        technical=(
            (
                "Les livraisons ont lieu du lundi au vendredi entre 6 h et 8 h à la cuisine centrale, "
                "en véhicules réfrigérés. Les bons de livraison indiquent l'origine et le label de "
                "chaque produit."
            ),
            (
                "Les fruits et légumes sont de saison ; les produits issus de circuits courts sont "
                "appréciés dans la valeur technique."
            ),
        ),
        prices=(
            ("Farine de blé T65, sac de 25 kg", "sac", "120"),
            ("Lait demi-écrémé biologique, brique de 1 l", "brique", "9000"),
            ("Pommes de saison, origine France", "kg", "4200"),
            ("Pâtes sèches biologiques", "kg", "2600"),
        ),
        criteria=(("Prix", 50), ("Qualité des produits et part de produits durables", 50)),
    ),
    DemoConsultation(
        buyer="demoville",
        reference="DV-2026-006",
        kind=CLOSED,
        title="Acquisition de deux véhicules utilitaires électriques pour les services techniques",
        description=(
            "Deux fourgonnettes électriques de 3 à 4 m³ de volume utile, avec autonomie d'au "
            "moins 200 km (cycle WLTP), bornes de recharge murales et contrat d'entretien de "
            "quatre ans."
        ),
        nature="supplies",
        procedure="adapted",
        cpv_main="34144900",
        place_code="75",
        value=96_000,
        published_days_ago=45,
        deadline_days=39,
        duration="livraison sous 4 mois",
        technical=(
            (
                "Chaque véhicule dispose d'un aménagement intérieur (étagères, protection du "
                "plancher) et d'un attelage. Les bornes de 7 kW sont posées au centre technique "
                "municipal."
            ),
        ),
        prices=(
            ("Fourgonnette électrique aménagée", "unité", "2"),
            ("Borne de recharge murale 7 kW, fournie et posée", "unité", "2"),
            ("Entretien (par véhicule et par an)", "an", "8"),
        ),
    ),
    DemoConsultation(
        buyer="ille-et-vilaine",
        reference="CD35-2026-011",
        title="Transport scolaire adapté des élèves en situation de handicap",
        description=(
            "Transport quotidien, entre leur domicile et leur établissement, des élèves et "
            "étudiants en situation de handicap ne pouvant utiliser les transports en commun. "
            "Procédure restreinte : les candidatures sont d'abord sélectionnées, puis les "
            "candidats admis sont invités à remettre une offre."
        ),
        nature="services",
        procedure="restricted",
        cpv_main="60130000",
        cpv_additional=("60112000",),
        place_code="35",
        value=1_450_000,
        published_days_ago=3,
        deadline_days=33,
        lots=(
            DemoLot(1, "Secteurs de Rennes et de Saint-Malo", 820_000, "60130000", "Environ 210 élèves."),
            DemoLot(2, "Secteurs de Redon et de Vitré", 630_000, "60130000", "Environ 150 élèves."),
        ),
        two_step_opening=True,
        duration="4 ans",
        technical=(
            (
                "Les circuits sont définis chaque année en juillet à partir des notifications de "
                "la maison départementale des personnes handicapées ; leur liste prévisionnelle est "
                "jointe au dossier."
            ),
            (
                "Les véhicules sont adaptés au transport de fauteuils roulants lorsque le circuit "
                "le requiert ; les conducteurs sont formés à l'accompagnement des élèves."
            ),
        ),
        prices=(
            ("Circuit quotidien en véhicule léger (par jour scolaire)", "jour", "140"),
            ("Circuit quotidien en véhicule adapté TPMR (par jour scolaire)", "jour", "140"),
            ("Kilomètre supplémentaire", "km", "5000"),
        ),
    ),
    DemoConsultation(
        buyer="ille-et-vilaine",
        reference="CD35-2026-012",
        title="Aménagement de sécurité de la RD 177 à Guichen : carrefour giratoire de la Lande",
        description=(
            "Création d'un carrefour giratoire de 30 m de diamètre, reprise des accotements, "
            "assainissement pluvial et signalisation, sous circulation maintenue par alternat."
        ),
        nature="works",
        procedure="adapted",
        cpv_main="45233140",
        place_code="35126",
        value=940_000,
        published_days_ago=1,
        deadline_days=26,
        variants_allowed=True,
        duration="5 mois",
        technical=(
            (
                "Le giratoire est implanté sur la RD 177 au droit de la voie communale de la Lande "
                "(trafic moyen de 14 800 véhicules par jour, dont 9 % de poids lourds)."
            ),
            (
                "La chaussée est réalisée en enrobés tièdes ; les matériaux de déblai sont réemployés "
                "sur le chantier autant que possible."
            ),
        ),
        prices=(
            ("Installation de chantier et signalisation temporaire", "forfait", "1"),
            ("Terrassements en déblai", "m³", "3800"),
            ("Grave non traitée 0/31,5", "t", "5200"),
            ("Béton bitumineux semi-grenu 0/10", "t", "1450"),
            ("Bordures T2 et caniveaux CS1", "ml", "620"),
            ("Signalisation horizontale et verticale", "forfait", "1"),
        ),
    ),
    DemoConsultation(
        buyer="eaux-vallee",
        reference="SEV-2026-003",
        title="Renouvellement des conduites d'eau potable rue des Tanneurs et chemin du Moulin",
        description=(
            "Remplacement de 1 350 m de conduites en fonte grise par de la fonte ductile "
            "DN 150, reprise de 48 branchements particuliers et pose de deux poteaux "
            "d'incendie, à Amboise."
        ),
        nature="works",
        procedure="adapted",
        authority_type="utilities",
        cpv_main="45232150",
        cpv_additional=("45232151",),
        place_code="37003",
        value=640_000,
        published_days_ago=5,
        deadline_days=25,
        lots=(
            DemoLot(1, "Rue des Tanneurs", 380_000, "45232150", "820 m de conduite, 31 branchements."),
            DemoLot(2, "Chemin du Moulin", 260_000, "45232150", "530 m de conduite, 17 branchements."),
        ),
        duration="6 mois",
        technical=(
            (
                "Les conduites existantes en fonte grise datent de 1958 ; la continuité du service "
                "est assurée par des by-pass provisoires, et aucune coupure ne dépasse quatre heures."
            ),
            (
                "Les branchements en plomb sont supprimés ; les essais de pression et la "
                "désinfection sont réalisés avant toute remise en service."
            ),
        ),
        prices=(
            ("Conduite fonte ductile DN 150, fournie et posée", "ml", "1350"),
            ("Reprise de branchement particulier", "unité", "48"),
            ("Poteau d'incendie DN 100", "unité", "2"),
            ("Réfection de chaussée définitive", "m²", "2100"),
        ),
    ),
    DemoConsultation(
        buyer="eaux-vallee",
        reference="SEV-2026-004",
        title="Fourniture et pose de compteurs d'eau communicants",
        description=(
            "Fourniture de 6 000 compteurs d'eau à radio-relève, de leurs modules de "
            "télérelève et de la plateforme de collecte des index, pose comprise."
        ),
        nature="supplies",
        procedure="negotiated",
        authority_type="utilities",
        cpv_main="38421100",
        place_code="37",
        value=520_000,
        published_days_ago=2,
        deadline_days=22,
        two_step_opening=True,
        duration="3 ans",
        technical=(
            (
                "Les compteurs, de classe R160 au moins, sont équipés d'un module radio dont les "
                "données sont collectées par une plateforme hébergée en France ; le syndicat reste "
                "propriétaire des données de consommation."
            ),
        ),
        prices=(
            ("Compteur DN 15 avec module radio, fourni et posé", "unité", "5600"),
            ("Compteur DN 20 avec module radio, fourni et posé", "unité", "400"),
            ("Abonnement à la plateforme de collecte (par an)", "an", "3"),
        ),
    ),
)

PROCEDURE_TEXT = {
    "adapted": (
        "La présente consultation est passée selon une procédure adaptée, en application des "
        "articles L2123-1 et R2123-1 du code de la commande publique. L'acheteur se réserve la "
        "possibilité de négocier avec les trois candidats ayant remis les meilleures offres ; "
        "il peut aussi attribuer le marché sur la base des offres initiales."
    ),
    "open": (
        "La présente consultation est passée selon la procédure d'appel d'offres ouvert, en "
        "application des articles L2124-2, R2124-2 (1°) et R2161-2 à R2161-5 du code de la "
        "commande publique. Aucune négociation n'est possible."
    ),
    "restricted": (
        "La présente consultation est passée selon la procédure d'appel d'offres restreint, en "
        "application des articles L2124-2, R2124-2 (2°) et R2161-6 à R2161-11 du code de la "
        "commande publique. Seuls les candidats sélectionnés au vu de leurs capacités seront "
        "invités à remettre une offre ; l'acheteur en retiendra cinq au plus."
    ),
    "negotiated": (
        "La présente consultation est passée selon la procédure avec négociation, en "
        "application des articles L2124-3 et R2124-4 du code de la commande publique, ouverte "
        "aux entités adjudicatrices. Les candidats admis remettront une offre initiale, qui "
        "pourra être négociée."
    ),
}
CCAG = {
    "works": "CCAG applicable aux marchés publics de travaux (arrêté du 30 mars 2021)",
    "supplies": "CCAG applicable aux marchés publics de fournitures courantes et de services "
    "(arrêté du 30 mars 2021)",
    "services": "CCAG applicable aux marchés publics de fournitures courantes et de services "
    "(arrêté du 30 mars 2021)",
}


# --- Loading ---------------------------------------------------------------------------------


def load(*, buyers: Mapping[str, Organisation], now: datetime | None = None) -> list[Consultation]:
    """Create the demo consultations that do not exist yet and return all of them. Each
    buyer's first agent (by e-mail) prepares and publishes; its commission members sit on
    every commission, the first one presiding."""
    now = now or timezone.now()
    # What the periodic task would have done since the last run (e.g. the previous
    # consultation "closing within the hour" is now closed).
    services.consultations_close_expired(now)
    result = []
    for spec in CONSULTATIONS:
        buyer = buyers[spec.buyer]
        reference = spec.reference
        if spec.kind == CLOSING_SOON:
            reference = _closing_soon_reference(buyer, spec.reference, now)
        consultation = Consultation.objects.filter(buyer=buyer, reference=reference).first()
        if consultation is None:
            consultation = _build(spec, buyer, reference, now)
        result.append(consultation)
    if any(spec.kind == CLOSED for spec in CONSULTATIONS):
        services.consultations_close_expired(now)
    fresh = Consultation.objects.select_related("buyer").in_bulk([c.pk for c in result])
    return [fresh[c.pk] for c in result]


def _closing_soon_reference(buyer: Organisation, base: str, now: datetime) -> str:
    """The reference of the consultation closing soon: the existing one while it is still
    open, else a new one (DV-2026-005, then DV-2026-005-2, -3…)."""
    existing = list(Consultation.objects.filter(buyer=buyer, reference__startswith=base))
    for consultation in existing:
        if consultation.state == Consultation.State.PUBLISHED and consultation.deadline > now:
            return consultation.reference
    return base if not existing else f"{base}-{len(existing) + 1}"


def _staff(buyer: Organisation) -> tuple[User, list[User]]:
    memberships = Membership.objects.filter(organisation=buyer).select_related("user").order_by("user__email")
    agents = [m.user for m in memberships if m.role == Membership.Role.BUYER_AGENT]
    commission = [m.user for m in memberships if m.role == Membership.Role.COMMISSION_MEMBER]
    return agents[0], commission


def _at_noon(moment: datetime, days: int) -> datetime:
    """Noon, Paris time, `days` days after `moment`."""
    return (timezone.localtime(moment) + timedelta(days=days)).replace(
        hour=12, minute=0, second=0, microsecond=0
    )


def _build(spec: DemoConsultation, buyer: Organisation, reference: str, now: datetime) -> Consultation:
    agent, commission = _staff(buyer)
    published_at = now - timedelta(days=spec.published_days_ago)
    if spec.kind == CLOSING_SOON:
        deadline = (now + CLOSING_SOON_DELAY).replace(second=0, microsecond=0)
    else:
        deadline = _at_noon(published_at, spec.deadline_days)
    questions_deadline = (
        deadline - timedelta(days=6) if deadline - published_at >= timedelta(days=14) else None
    )
    codes = CpvCode.objects.in_bulk([spec.cpv_main, *spec.cpv_additional, *(lot.cpv for lot in spec.lots)])
    contact_name, contact_email, contact_phone = CONTACTS[spec.buyer]
    consultation = services.consultation_create(
        buyer=buyer,
        created_by=agent,
        cpv_additional=[codes[code] for code in spec.cpv_additional],
        reference=reference,
        title=spec.title,
        description=spec.description,
        nature=spec.nature,
        procedure=spec.procedure,
        authority_type=spec.authority_type,
        cpv_main=codes[spec.cpv_main],
        place_code=spec.place_code,
        estimated_value=Decimal(spec.value),
        deadline=deadline,
        questions_deadline=questions_deadline,
        variants_allowed=spec.variants_allowed,
        two_step_opening=spec.two_step_opening,
        contact_name=contact_name,
        contact_email=contact_email,
        contact_phone=contact_phone,
    )
    if spec.lots:
        services.lots_set(
            consultation=consultation,
            updated_by=agent,
            lots=[
                services.LotInput(
                    number=lot.number,
                    title=lot.title,
                    estimated_value=Decimal(lot.value),
                    cpv=codes[lot.cpv],
                    description=lot.description,
                )
                for lot in spec.lots
            ],
        )
    services.commission_set(
        consultation=consultation, updated_by=agent, members=commission, president=commission[0], quorum=2
    )
    documents = DemoDocuments(spec, buyer, reference, deadline, questions_deadline)
    services.dce_add_files(
        consultation=consultation, added_by=agent, uploads=documents.uploads(draft=spec.kind == DRAFT)
    )
    if spec.kind != DRAFT:
        if checks.unscanned_files(consultation.dce_versions.get(published_at__isnull=True))[0]:
            # Without clamd the documents are « non analysé », which blocks publication until
            # the buyer decides: the demo decides as a buyer would, on the record.
            services.dce_unscanned_accept(
                consultation=consultation, accepted_by=agent, reason=DEMO_UNSCANNED_REASON, now=published_at
            )
        consultation = services.consultation_publish(
            consultation=consultation, published_by=agent, now=published_at
        )
    return consultation


# --- Summary ---------------------------------------------------------------------------------


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%d/%m/%Y à %H:%M") + " (heure de Paris)"


def summary(consultations: Iterable[Consultation]) -> list[str]:
    """What a person trying the demo should know, the same on every run."""
    consultations = list(consultations)
    lines = [f"Consultations de démonstration ({len(consultations)}) : {settings.SITE_URL}/consultations/"]
    for consultation in consultations:
        state = consultation.get_current_state_display()
        if consultation.is_draft:
            when = "brouillon, visible par l'acheteur seulement"
        elif consultation.is_open_for_deposits:
            when = f"{state.lower()}, date limite le {_when(consultation.deadline)}"
            if consultation.deadline - timezone.now() <= timedelta(hours=1):
                when += ", clôture dans moins d'une heure"
        else:
            when = f"{state.lower()} le {_when(consultation.deadline)}"
        lines.append(f"  {consultation.reference}  {consultation.title}")
        lines.append(f"  {''.ljust(len(consultation.reference))}  {consultation.buyer.name} — {when}")
    lines.append("")
    return lines


# --- Tender documents ------------------------------------------------------------------------


def _pdf_text(text: str) -> str:
    """Text for reportlab's standard fonts, which cover Windows-1252 only: escaped for its
    markup, anything else shown as « ? » rather than as a missing glyph."""
    return escape(text.replace("\u202f", "\u00a0").encode("cp1252", "replace").decode("cp1252"))


def _euros(value: int | Decimal) -> str:
    # A no-break space as thousands separator: the PDF's standard fonts lack U+202F.
    return f"{int(value):,}".replace(",", "\u00a0") + "\u00a0€ HT"


class DemoDocuments:
    """The DCE of one demo consultation: RC and CCAP at the top, the technical and financial
    pieces in a zip whose folders become the DCE's tree."""

    def __init__(
        self,
        spec: DemoConsultation,
        buyer: Organisation,
        reference: str,
        deadline: datetime,
        questions_deadline: datetime | None,
    ) -> None:
        self.spec = spec
        self.buyer = buyer
        self.reference = reference
        self.deadline = deadline
        self.questions_deadline = questions_deadline

    def uploads(self, *, draft: bool = False) -> list[tuple[str, io.BytesIO]]:
        """A draft is still being prepared: only its règlement de la consultation so far."""
        files = [("RC.pdf", io.BytesIO(self.rc()))]
        if draft:
            return files
        files.append(("CCAP.pdf", io.BytesIO(self.ccap())))
        files.append(("Pièces techniques et financières.zip", io.BytesIO(self.archive())))
        return files

    # The documents ------------------------------------------------------------------------

    def rc(self) -> bytes:
        spec = self.spec
        sections = [
            ("Article 1 – Objet de la consultation", [spec.description, self._cpv_sentence()]),
            ("Article 2 – Procédure", [PROCEDURE_TEXT[spec.procedure]]),
            ("Article 3 – Allotissement", [self._lots_sentence()]),
            (
                "Article 4 – Contenu du dossier de consultation",
                [
                    (
                        "Le dossier de consultation des entreprises (DCE) comprend le présent "
                        "règlement, le cahier des clauses administratives particulières (CCAP), le "
                        "cahier des clauses techniques particulières (CCTP) et ses annexes, et le "
                        f"{self._price_document_name()}. Il est téléchargeable gratuitement sur la "
                        "plateforme, sans identification obligatoire ; les candidats qui laissent "
                        "leurs coordonnées sont informés de toute modification du dossier."
                    ),
                ],
            ),
            (
                "Article 5 – Conditions de remise des plis",
                [
                    (
                        f"Les plis doivent parvenir au plus tard le {_when(self.deadline)}. Ils sont "
                        "remis exclusivement par voie électronique sur la plateforme ; chaque pli est "
                        "chiffré dans le navigateur et ne peut être ouvert qu'après la date limite, "
                        "par la commission. Un pli reçu après la date limite est conservé mais n'est "
                        "pas ouvert."
                    ),
                    "Les variantes sont autorisées."
                    if spec.variants_allowed
                    else "Les variantes ne sont pas autorisées.",
                ],
            ),
            ("Article 6 – Jugement des offres", [self._criteria_sentence()]),
            ("Article 7 – Renseignements complémentaires", [self._questions_sentence()]),
        ]
        return self._pdf("Règlement de la consultation", sections)

    def ccap(self) -> bytes:
        spec = self.spec
        sections = [
            ("Article 1 – Objet du marché", [f"Le présent marché a pour objet : {spec.title.lower()}."]),
            (
                "Article 2 – Pièces contractuelles",
                [
                    (
                        "Par ordre de priorité décroissante : l'acte d'engagement, le présent CCAP, "
                        f"le CCTP, le {self._price_document_name()}, le {CCAG[spec.nature]}, et "
                        "l'offre technique du titulaire."
                    ),
                ],
            ),
            ("Article 3 – Durée et délais d'exécution", [f"Durée d'exécution : {spec.duration}."]),
            (
                "Article 4 – Prix",
                [
                    (
                        "Les prix sont fermes la première année, puis révisés chaque année à la date "
                        "anniversaire de la notification selon l'index de référence indiqué dans "
                        "l'acte d'engagement."
                    )
                ],
            ),
            (
                "Article 5 – Avance et paiement",
                [
                    (
                        "Une avance est versée dans les conditions des articles R2191-3 et suivants du "
                        "code de la commande publique, sauf renonciation du titulaire dans l'acte "
                        "d'engagement. Les sommes dues sont payées dans un délai global de 30 jours "
                        "(article R2192-10) ; les factures sont déposées sur le portail Chorus Pro."
                    ),
                ],
            ),
            (
                "Article 6 – Pénalités",
                [
                    (
                        "En cas de retard imputable au titulaire, une pénalité de 1/1000 du montant "
                        "hors taxes du marché est appliquée par jour calendaire de retard, sans mise "
                        "en demeure préalable."
                    ),
                ],
            ),
            (
                "Article 7 – Litiges",
                [
                    (
                        "Tout différend est d'abord soumis au comité consultatif de règlement amiable "
                        "compétent ; à défaut d'accord, au tribunal administratif dans le ressort "
                        "duquel se trouve l'acheteur."
                    ),
                ],
            ),
        ]
        return self._pdf("Cahier des clauses administratives particulières (CCAP)", sections)

    def cctp(self) -> bytes:
        spec = self.spec
        paragraphs = list(spec.technical) or [spec.description]
        sections = [("Article 1 – Description des prestations", paragraphs)]
        if spec.lots:
            sections.append(
                (
                    "Article 2 – Consistance des lots",
                    [f"Lot {lot.number} – {lot.title}. {lot.description}".strip() for lot in spec.lots],
                )
            )
        return self._pdf("Cahier des clauses techniques particulières (CCTP)", sections)

    def price_schedule(self) -> bytes:
        """The price schedule the bidders fill in: CSV, semicolons and a BOM, as a French
        spreadsheet expects."""
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(["N°", "Désignation", "Unité", "Quantité", "Prix unitaire € HT", "Montant € HT"])
        for number, (designation, unit, quantity) in enumerate(self.spec.prices, start=1):
            writer.writerow([number, designation, unit, quantity, "", ""])
        writer.writerow(["", "Total € HT", "", "", "", ""])
        return ("\ufeff" + out.getvalue()).encode()

    def site_plan(self) -> bytes:
        """A schematic site plan (works only): enough to show a drawing in the tree."""
        from reportlab.lib.pagesizes import A4, landscape
        from reportlab.lib.units import mm
        from reportlab.pdfgen import canvas

        buffer = io.BytesIO()
        page = canvas.Canvas(buffer, pagesize=landscape(A4), invariant=1)
        page.setTitle(f"Plan de situation – {self.reference}")
        width, height = landscape(A4)
        page.rect(10 * mm, 10 * mm, width - 20 * mm, height - 20 * mm)
        page.setFillGray(0.85)
        page.rect(20 * mm, 95 * mm, width - 40 * mm, 18 * mm, fill=1, stroke=1)  # the road
        page.setFillGray(0.6)
        page.rect(70 * mm, 125 * mm, 80 * mm, 45 * mm, fill=1, stroke=1)  # the works area
        page.setFillGray(0)
        page.setFont("Helvetica-Bold", 11)
        page.drawString(75 * mm, 160 * mm, "Emprise des travaux")
        page.setFont("Helvetica", 9)
        page.drawString(25 * mm, 102 * mm, "Voie publique – circulation maintenue")
        page.line(width - 40 * mm, 160 * mm, width - 40 * mm, 180 * mm)  # north arrow
        page.drawCentredString(width - 40 * mm, 183 * mm, "N")
        page.rect(width - 120 * mm, 15 * mm, 105 * mm, 30 * mm)  # title block
        page.setFont("Helvetica-Bold", 9)
        page.drawString(width - 117 * mm, 38 * mm, f"{self.buyer.name}")
        page.setFont("Helvetica", 8)
        page.drawString(width - 117 * mm, 31 * mm, f"{self.reference} – Plan de situation")
        page.drawString(width - 117 * mm, 24 * mm, "Échelle 1/500 – document de démonstration")
        page.showPage()
        page.save()
        return buffer.getvalue()

    def archive(self) -> bytes:
        price_name = "DPGF.csv" if self.spec.nature == "works" else "BPU.csv"
        members = {
            "Pièces techniques/CCTP.pdf": self.cctp(),
            f"Pièces financières/{price_name}": self.price_schedule(),
        }
        if self.spec.nature == "works":
            members["Pièces techniques/Plans/Plan de situation.pdf"] = self.site_plan()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in members.items():
                # Fixed date: the same documents give the same archive on every run.
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, content)
        return buffer.getvalue()

    # Building blocks -----------------------------------------------------------------------

    def _price_document_name(self) -> str:
        if self.spec.nature == "works":
            return "décomposition du prix global et forfaitaire (DPGF)"
        return "bordereau des prix unitaires (BPU)"

    def _cpv_sentence(self) -> str:
        codes = CpvCode.objects.in_bulk([self.spec.cpv_main, *self.spec.cpv_additional])
        main = codes[self.spec.cpv_main]
        text = f"Code CPV principal : {main.full_code} ({main.label_fr})."
        if self.spec.cpv_additional:
            extra = ", ".join(f"{codes[c].full_code} ({codes[c].label_fr})" for c in self.spec.cpv_additional)
            text += f" Codes complémentaires : {extra}."
        return text

    def _lots_sentence(self) -> str:
        if not self.spec.lots:
            return (
                "Le marché n'est pas alloti : les prestations forment un ensemble dont la "
                "division rendrait l'exécution techniquement difficile (article L2113-11 du "
                f"code de la commande publique). Montant estimé : {_euros(self.spec.value)}."
            )
        lots = " ; ".join(f"lot {lot.number} – {lot.title} ({_euros(lot.value)})" for lot in self.spec.lots)
        return (
            f"La consultation est allotie en {len(self.spec.lots)} lots : {lots}. Un candidat peut "
            "répondre à un ou plusieurs lots ; chaque lot fait l'objet d'un marché distinct."
        )

    def _criteria_sentence(self) -> str:
        criteria = ", ".join(f"{name} ({weight} %)" for name, weight in self.spec.criteria)
        return (
            "L'offre économiquement la plus avantageuse est choisie selon les critères pondérés "
            f"suivants : {criteria}. La valeur technique est appréciée au vu du mémoire technique."
        )

    def _questions_sentence(self) -> str:
        where = "sont posées sur la plateforme, dans l'espace de la consultation"
        if self.questions_deadline:
            return f"Les questions {where}, au plus tard le {_when(self.questions_deadline)}."
        return f"Les questions {where}."

    def _pdf(self, title: str, sections: list[tuple[str, list[str]]]) -> bytes:
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.styles import getSampleStyleSheet
        from reportlab.lib.units import mm
        from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

        styles = getSampleStyleSheet()
        buffer = io.BytesIO()
        document = SimpleDocTemplate(
            buffer,
            pagesize=A4,
            title=f"{title} – {self.reference}",
            author=self.buyer.name,
            subject=self.spec.title,
            leftMargin=20 * mm,
            rightMargin=20 * mm,
            invariant=1,
        )
        story = [
            Paragraph(_pdf_text(self.buyer.name), styles["Normal"]),
            Paragraph(_pdf_text(self.buyer.address), styles["Normal"]),
            Spacer(1, 8 * mm),
            Paragraph(_pdf_text(title), styles["Title"]),
            Paragraph(_pdf_text(f"{self.spec.title} — référence {self.reference}"), styles["Heading3"]),
            Spacer(1, 4 * mm),
        ]
        for heading, paragraphs in sections:
            story.append(Paragraph(_pdf_text(heading), styles["Heading2"]))
            story.extend(Paragraph(_pdf_text(text), styles["BodyText"]) for text in paragraphs)
        story += [
            Spacer(1, 8 * mm),
            Paragraph(
                "<i>Document de démonstration : ni l'acheteur ni le marché n'existent.</i>", styles["Normal"]
            ),
        ]
        document.build(story)
        return buffer.getvalue()
