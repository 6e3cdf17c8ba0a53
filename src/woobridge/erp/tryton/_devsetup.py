"""Set up a fresh local Tryton database for tests, the benchmark and the demo (run in a subprocess).

``python -m woobridge.erp.tryton._devsetup CONFIG DATABASE`` opens the database in-process with proteus (trytond's
configuration is global, hence the subprocess) and creates what a shop needs before its first sale: a company in
USD, a chart of accounts with default revenue/expense accounts, a fiscal year with invoice sequences, a few
countries, percentage taxes, a "Goods" account category, a "SHIPPING" service product and one carrier. A real
Tryton is set up by its users; the adapter only needs what ``docs/tryton.md`` lists.
"""

from __future__ import annotations

import datetime
import sys
from decimal import Decimal
from typing import Any

# Countries the sandbox's seed data uses; a production database loads them all with `trytond_import_countries`.
COUNTRIES = {
    "US": (
        "United States",
        {"US-CA": "California", "US-NY": "New York", "US-TX": "Texas", "US-OR": "Oregon", "US-IL": "Illinois"},
    ),
    "GB": ("United Kingdom", {}),
    "DE": ("Germany", {}),
    "FR": ("France", {}),
    "CA": ("Canada", {"CA-ON": "Ontario"}),
    "JP": ("Japan", {}),
}
# Percentage taxes (those of the sandbox's seeded store, and 10%), matched by rate when no mapping is configured.
TAXES = (
    ("Sales tax 10%", "0.10"),
    ("TX sales tax 8.25%", "0.0825"),
    ("Reduced 5%", "0.05"),
    ("CA state tax 7.25%", "0.0725"),
    ("CA district tax 1.5%", "0.015"),
    ("VAT 20%", "0.20"),
    ("VAT 19%", "0.19"),
)


def setup(config_file: str, database: str) -> None:
    from proteus import Model, config
    from trytond.modules.account.tests.tools import create_chart, create_fiscalyear, get_accounts
    from trytond.modules.account_invoice.tests.tools import set_fiscalyear_invoice_sequences
    from trytond.modules.company.tests.tools import create_company, get_company

    config.set_trytond(database=database, config_file=config_file)

    create_company(currency="USD")
    company = get_company()
    company.party.name = "Woobridge Demo Shop"
    company.party.save()
    create_chart(company)
    today = datetime.date.today()
    for year_start in (today, today.replace(year=today.year + 1) if today.month > 6 else None):
        if year_start is None:
            continue
        fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(company, today=year_start))
        fiscalyear.click("create_period")
    accounts = get_accounts(company)

    Country: Any = Model.get("country.country")
    Subdivision: Any = Model.get("country.subdivision")
    for code, (name, subdivisions) in COUNTRIES.items():
        country = Country(name=name, code=code)
        country.save()
        for sub_code, sub_name in subdivisions.items():
            Subdivision(country=country, name=sub_name, code=sub_code, type="state").save()

    Tax: Any = Model.get("account.tax")
    for name, rate in TAXES:
        tax = Tax(name=name, description=name, type="percentage", rate=Decimal(rate))
        tax.invoice_account = tax.credit_note_account = accounts["tax"]
        tax.save()

    Category: Any = Model.get("product.category")
    goods = Category(name="Goods", accounting=True)
    goods.account_revenue = accounts["revenue"]
    goods.account_expense = accounts["expense"]
    goods.save()

    Uom: Any = Model.get("product.uom")
    unit = Uom.find([("name", "=", "Unit")])[0]
    Template: Any = Model.get("product.template")

    def service(name: str, code: str) -> Any:
        template = Template(name=name, type="service", default_uom=unit, list_price=Decimal(0))
        template.salable = True
        template.account_category = goods
        template.code = code
        template.save()
        return template.products[0]

    service("Shipping", "SHIPPING")
    carrier_product = service("Parcel delivery", "CARRIER")
    Party: Any = Model.get("party.party")
    carrier_party = Party(name="Parcel Express")
    carrier_party.save()
    Carrier: Any = Model.get("carrier")
    Carrier(party=carrier_party, carrier_product=carrier_product).save()

    # Invoices need a payment term to be posted; one "due on receipt" term keeps the demo's credit notes simple.
    Term: Any = Model.get("account.invoice.payment_term")
    term = Term(name="On receipt")
    term.lines.new(type="remainder")
    term.save()


if __name__ == "__main__":
    setup(sys.argv[1], sys.argv[2])
