#!/usr/bin/env python3
"""Writes the committed seed corpus of the fuzz targets, fuzz/corpus/<target>/, from the
protocol vectors, the sample exports and the examples of the tests and README.

Run from anywhere: python3 fuzz/make_corpus.py. It rewrites the seeds it names and leaves any
other file alone. The session seeds number the vectors as VECTORS in fuzz_targets/session.rs.
"""

import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
VECTORS = ROOT / "protocol-spec" / "vectors"
CORPUS = ROOT / "fuzz" / "corpus"

# The order of VECTORS in fuzz_targets/session.rs.
SESSIONS = ["bloom", "counts", "duplicates", "fields", "hidden", "mixed", "order", "overlaps"]

# Negative vectors whose frames seed the session and wire targets: one or two per kind of check.
NEGATIVES = [
    "replayed-frame",
    "foreign-session",
    "identity-element",
    "truncated-frame",
    "hello-keys-beyond-limit",
    "plan-shape-mismatch",
    "bloom-piece-gap",
    "bloom-total-changes",
    "counted-element-reused",
    "sealed-slot-beyond-width",
    "wrong-class-return",
    "shuffled-answer-width",
    "unknown-abort-code",
    "blinded-widths-differ",
]


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def frames(chunks):
    return b"".join(struct.pack(">H", len(c)) + c for c in chunks)


def session_seeds():
    for index, name in enumerate(SESSIONS):
        v = json.loads((VECTORS / f"session-{name}.json").read_text())
        for role_bit, role, partner in [(0, "initiator", "responder"), (1, "responder", "initiator")]:
            recorded = [bytes.fromhex(m["bytes"]) for m in v["messages"] if m["from"] == partner]
            # The whole recorded session, fed as fuzzer frames with nothing recorded first.
            write("session", f"{name}-{role}", bytes([index, role_bit, 0]) + frames(recorded))
    for name in NEGATIVES:
        n = json.loads((VECTORS / "negative" / f"{name}.json").read_text())
        index = SESSIONS.index(n["base"].removeprefix("session-"))
        role_bit = 1 if n["to"] == "responder" else 0
        chunks = [bytes.fromhex(b) for b in n.get("before", [])] + [bytes.fromhex(n["frame"])]
        write("session", f"negative-{name}", bytes([index, role_bit, n["after"]]) + frames(chunks))


def wire_seeds():
    seen = set()
    for name in SESSIONS:
        v = json.loads((VECTORS / f"session-{name}.json").read_text())
        for m in v["messages"]:
            if m["kind"] not in seen:
                seen.add(m["kind"])
                write("wire_frame", m["kind"].lower(), bytes.fromhex(m["bytes"]))
    # An abort (spec §8.10): the header of the first hello with kind 0x0f and code 3.
    hello = bytes.fromhex(json.loads((VECTORS / "session-overlaps.json").read_text())["messages"][0]["bytes"])
    write("wire_frame", "abort", bytes([1, 0x0F]) + hello[2:22] + struct.pack(">IH", 2, 3))
    for name in ["identity-element", "truncated-frame", "bloom-piece-gap", "sealed-slot-beyond-width"]:
        n = json.loads((VECTORS / "negative" / f"{name}.json").read_text())
        write("wire_frame", f"negative-{name}", bytes.fromhex(n["frame"]))


def csv_seeds():
    salesforce = (ROOT / "samples" / "vendor-salesforce.csv").read_bytes()
    hubspot = (ROOT / "samples" / "partner-hubspot.csv").read_bytes()
    head = lambda data, lines: b"\n".join(data.split(b"\n")[:lines]) + b"\n"  # noqa: E731
    # The first byte chooses the mapping (0 Salesforce, 1 HubSpot, 2 generic, 3 detected) and
    # the side (4: the second).
    write("csv_import", "salesforce", b"\x00" + salesforce)
    write("csv_import", "hubspot-second-side", b"\x05" + hubspot)
    write("csv_import", "detected-salesforce-head", b"\x03" + head(salesforce, 6))
    write(
        "csv_import",
        "generic",
        b"\x02id,segment,name,country,domain,email,duns,owner\r\n"
        b'1,customers,"Acme, Inc.",US,acme.com;acme.io,jane@acme.com,001234567,Ada\r\n'
        b"2,prospects,Beta GmbH,Deutschland,,tom@gmail.com,,\r\n"
        b'3,customers,"Multi\nline",FR,"gamma.fr",,"",\r\n',
    )
    write("csv_import", "quotes-bom-and-line-ends", b'\x02\xef\xbb\xbfid,segment,domain\r\n1,"x, ""y""",a.com\r\n\r\n2,b,"c\rd"\r3,,e.org')
    write("csv_import", "semicolons", b"\x03Record ID;Company name;Company Domain Name;Country/Region\n9;A;a.de;DE\n")


def mapping_seeds():
    write(
        "mapping",
        "readme",
        b'preset = "salesforce"\ndelimiter = ";"\n'
        b'segments = ["customers: Type in [Customer - Direct, Customer - Channel]",\n'
        b'            "open_opportunities: Open Opportunities > 0",\n'
        b'            "prospects: everything else"]\n'
        b'[columns]\ndomain = ["Website", "Secondary Website"]\nemail = ["Primary Contact Email"]\n'
        b'[fields]\nregion = "Sales Region"\n',
    )
    write(
        "mapping",
        "without-preset",
        b'segments = ["gold: Tier = Gold", "others: everything else"]\n'
        b'[columns]\nid = "Key"\nname = "Organisation"\ndomain = "Web"\nemail = "Contact"\ncountry = "Land"\n'
        b'[fields]\ntier = "Tier"\n',
    )
    write("mapping", "segment-column", b'preset = "generic"\n[columns]\nsegment = "Lifecycle Stage"\nduns = "D-U-N-S Number"\n')
    write("mapping", "hubspot-tab", b'preset = "HubSpot"\ndelimiter = "tab"\n[columns]\ncity = ["City"]\nphone = "Phone"\n')
    write("mapping", "mistake-two-ids", b'[columns]\nid = ["a", "b"]\n')


def time_seeds():
    for name, text in [
        ("date", "2027-01-15"),
        ("utc", "2021-02-25T15:02:10.123Z"),
        ("offset-nanoseconds", "2021-02-25T14:32:10.123456789-00:30"),
        ("lower-case", "2021-02-25t15:02:10.1z"),
        ("first", "0000-01-01"),
        ("last", "9999-12-31T23:59:59.999Z"),
        ("no-such-date", "2027-02-31"),
        ("edge-offset", "0000-01-01T00:00:00+00:01"),
    ]:
        write("time", name, text.encode())


if __name__ == "__main__":
    session_seeds()
    wire_seeds()
    csv_seeds()
    mapping_seeds()
    time_seeds()
