"""Spellings of one address that designate one account (comptes/emails.py)."""


def fullwidth(text: str) -> str:
    """ASCII letters as their fullwidth forms (U+FF21…), the rest unchanged."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalpha() else c for c in text)


ADDRESS = "kessler.commission@demoville.demo"

# Each, once normalised, is ADDRESS; before the normal form, PostgreSQL's UPPER() matched
# the first two (and the last) to the account, while the lockout counted them apart.
VARIANTS = {
    "long_s": "keſsler.commiſsion@demoville.demo",  # ſ, U+017F
    "kelvin": "\u212aessler.commission@demoville.demo",  # K, U+212A
    "fullwidth": fullwidth("kessler.commission") + "@" + fullwidth("demoville") + ".demo",
    "mixed_case": "Kessler.COMMISSION@DemoVille.Demo",
    "all_at_once": "\u212aeſsler.ＣＯＭＭＩＳＳＩＯＮ@DEMOｖｉｌｌｅ.demo",
}
SPELLINGS = {"as_stored": ADDRESS, **VARIANTS}
