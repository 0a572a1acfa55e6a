"""Documents the platform would generate: a Response built from the official criteria of a version."""

import copy
import datetime as dt
from decimal import Decimal

from dume import criteria
from dume.model import (
    Address,
    Answer,
    Contact,
    Document,
    DocumentKind,
    DocumentReference,
    EconomicOperator,
    Identifier,
    Party,
    Person,
    Value,
    ValueKind,
)

CRIME = "005eb9ed-1347-4ca3-bb29-9bc0db64e1ab"
CORRUPTION = "c27b7c4e-c837-4529-b867-ed55ce639db5"
TAXES = "b61bbeb7-690e-4a40-bc68-d6d4ecfaa3d4"
EXCLUSIONS = (CRIME, CORRUPTION)


def operator() -> EconomicOperator:
    return EconomicOperator(
        name="Durand Bâtiment",
        identifiers=[Identifier("73282932000074", "NATIONAL"), Identifier("FR44732829320", "VAT")],
        address=Address(street="3 rue des Lilas", city="Lyon", postal_code="69003", country="FR"),
        contact=Contact(name="Claire Durand", email="contact@durand-batiment.fr", telephone="0472000000"),
        website="https://durand-batiment.fr",
        size="small",
        role="sole-tenderer",
        # An entity whose capacities it relies on: a second EconomicOperatorParty, role « oeron ».
        relied_upon=[
            EconomicOperator(
                name="Toitures Martin",
                identifiers=[Identifier("44306184100047", "NATIONAL")],
                address=Address(city="Lyon", country="FR"),
                size="micro",
                role="oeron",
            )
        ],
        representatives=[
            Person(
                first_name="Claire",
                family_name="Durand",
                birth_date=dt.date(1975, 3, 14),
                birth_place="Lyon",
                email="claire@durand-batiment.fr",
                capacity="Gérante",
                address=Address(city="Lyon", country="FR"),
            )
        ],
    )


def response(version: str, *, lots=("LOT-0001",)) -> Document:
    """A Response answering « no » to two exclusion grounds, the way the platform writes one."""
    templates = criteria.templates(version)
    document = Document(
        kind=DocumentKind.RESPONSE,
        version=version,
        id="DUME-2026-000042",
        uuid="3f1c7a52-8b9e-4c0d-9a61-2f5d8e7b1c34",
        issue_date=dt.date(2026, 12, 4),
        contract_folder_id="2026-TRX-017",
        procedure_code="open" if version.startswith("4") else "OPEN",
        project_description="Réfection des toitures de l'école Jean-Jaurès",
        buyer=Party(
            name="Commune de Villeneuve",
            identifiers=[Identifier("21690123400019", "NATIONAL")],
            address=Address(city="Villeneuve", postal_code="69100", country="FR"),
            contact=Contact(email="marches@villeneuve.fr"),
        ),
        lots=list(lots) if version.startswith("4") else [],
        economic_operator=operator(),
        request=DocumentReference(
            id="6d2b8a0e-5f3c-4e7a-9b1d-0c8e2f4a6b57",
            type_code="ESPD_REQUEST",
            description="DUME de la consultation",
        ),
    )
    for uuid in EXCLUSIONS:
        criterion = copy.deepcopy(templates[uuid])
        criterion.answers = []
        first = criterion.questions()[0]
        criterion.answers.append(
            Answer(
                id=f"{first.id}/R1",
                property_id=first.id,
                values=[Value(ValueKind.INDICATOR, False, id=f"{first.id}/R1/RV")],
                lots=list(lots) if version.startswith("4") else [],
            )
        )
        if version.startswith("4"):
            criterion.lots = list(lots)
        document.criteria.append(criterion)
    return document


TURNOVER = "499efc97-2ac1-4af2-9e84-323c2ca67747"


def multi_lot_response() -> Document:
    """A 4.1.0 Response for two lots at once, built from a Request that requires the turnover for
    both: one « no » per exclusion ground and one amount, each covering both lots."""
    from dume import build

    lots = ["LOT-0001", "LOT-0002"]
    request = build.request(
        version="4.1.0",
        uuid="0b6f8a3e-6f2c-4d8a-9d1e-5c7b2a4e9f10",
        contract_folder_id="2026-TRX-017",
        buyer=Party(name="Commune de Villeneuve", address=Address(city="Villeneuve", country="FR")),
        lots=lots,
        criteria={**dict.fromkeys(build.mandatory_grounds("4.1.0"), ()), TURNOVER: lots},
        procedure_code="open",
        issue_date=dt.date(2026, 12, 4),
    )
    amount = next(p for p in request.criterion(TURNOVER).questions() if p.value_type == "AMOUNT")
    answers = {
        c.questions()[0].id: [Value(ValueKind.INDICATOR, False)]
        for c in request.criteria
        if c.uuid != TURNOVER
    }
    answers[amount.id] = [Value(ValueKind.AMOUNT, Decimal(1200000), "EUR")]
    return build.response(
        request, uuid="5b9e", operator=operator(), answers=answers, lots=lots, issue_date=dt.date(2026, 12, 4)
    )


__all__ = ["Decimal", "multi_lot_response", "response"]
