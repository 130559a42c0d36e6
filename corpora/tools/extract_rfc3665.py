#!/usr/bin/env python3
"""Extract the SIP messages of RFC 3665 ("SIP Basic Call Flow Examples") as
fuzz seeds.

Run it explicitly from the repository root (never from tests or CI):

    python3 corpora/tools/extract_rfc3665.py /work/shared/rfc/rfc3665.txt

It (re)writes
  corpora/sip/rfc3665/<section>-<label>-<what>.sip   one message per file
  corpora/sip/rfc3665/MANIFEST.md                   what was extracted, fixed, skipped
  corpora/sdp/rfc3665/<section>-<label>.sdp         each distinct SDP body once

How the RFC text becomes wire format:
  * page breaks (footer line, header line and the blank lines around them)
    are removed, so messages split across pages are joined again;
  * every message starts at its "F<n> ..." label; a label followed by
    "Same as Message F1" or "Resend of Message F4" has no message of its own
    and is listed as skipped;
  * the 3-space indent of the RFC is removed; a line indented deeper is a
    folded continuation of the header field above (RFC 3261 section 7.3.1)
    and keeps one leading space;
  * the body is the run of SDP "x=" lines after the header section (a page
    break may swallow the empty line between them);
  * a list continued on a line printed without the extra indent (one case,
    section 3.10 F4) is folded too;
  * lines end in CRLF, and Content-Length is recomputed from the body (a
    missing one is added, a wrong one corrected; both are listed).
Everything else is kept as printed, including what does not parse (the
"SIP/2.0  486" status lines of section 3.9 have two spaces).
"""

import re
import sys
from pathlib import Path

FOOTER = re.compile(r"^Johnston, et al\.\s+Best Current Practice\s+\[Page \d+\]\s*$")
PAGE_HEAD = re.compile(r"^RFC 3665\s+SIP Basic Call Flow Examples\s+December 2003\s*$")
SECTION = re.compile(r"^(\d+(?:\.\d+)+)\.\s+\S")
LABEL = re.compile(r"^   (F\d+)\s+(\S.*?)\s*$")
START = re.compile(r"^   ([A-Z]+ \S+ SIP/2\.0|SIP/2\.0 +\d{3}( .*)?)$")
FIELD = re.compile(r"^   [A-Za-z0-9!%*_+`'~.-]+\s*:")
CONTINUATION = re.compile(r"^    +\S")
SDP = re.compile(r"^   [a-z]=")
PAGE_BREAK = object()


def depaginate(lines):
    """Replaces each page break, with the blank lines around it, by PAGE_BREAK."""
    out = []
    i = 0
    while i < len(lines):
        if FOOTER.match(lines[i]):
            while out and out[-1] == "":
                out.pop()
            while i < len(lines) and not PAGE_HEAD.match(lines[i]):
                i += 1
            i += 1
            while i < len(lines) and lines[i] == "":
                i += 1
            out.append(PAGE_BREAK)
            continue
        out.append(lines[i])
        i += 1
    return out


def next_content(lines, i):
    """Index of the next line that is neither blank nor a page break."""
    while i < len(lines) and (lines[i] is PAGE_BREAK or lines[i] == ""):
        i += 1
    return i


def read_message(lines, i, repairs):
    """Reads the message whose start line is lines[i]: (fields, body, next).
    Continuation lines printed without their extra indent go to `repairs`."""
    fields = [lines[i][3:]]
    i += 1
    # Header section: fields and their continuation lines.
    while i < len(lines):
        line = lines[i]
        if line is PAGE_BREAK:
            i += 1
        elif CONTINUATION.match(line):
            fields[-1] += "\r\n " + line.strip()
            i += 1
        elif FIELD.match(line):
            fields.append(line[3:].rstrip())
            i += 1
        elif line.startswith("   <") and fields[-1].endswith(","):
            # A list continued on a line printed without the extra indent
            # (RFC 3665 section 3.10 F4, Record-Route): fold it.
            fields[-1] += "\r\n " + line.strip()
            repairs.append(line.strip())
            i += 1
        else:
            break
    # Body: SDP lines, after an empty line (or a page break that ate it).
    body = []
    j = next_content(lines, i)
    if j < len(lines) and SDP.match(lines[j]):
        i = j
        while i < len(lines):
            line = lines[i]
            if line is PAGE_BREAK:
                i += 1
            elif SDP.match(line):
                body.append(line[3:].rstrip())
                i += 1
            else:
                break
    return fields, body, i


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = Path(__file__).resolve().parents[2]
    text = Path(sys.argv[1]).read_text(encoding="ascii").replace("\f", "")
    lines = depaginate([l.rstrip() for l in text.split("\n")])

    sip_dir = root / "corpora/sip/rfc3665"
    sdp_dir = root / "corpora/sdp/rfc3665"
    for d in (sip_dir, sdp_dir):
        d.mkdir(parents=True, exist_ok=True)
        for old in list(d.glob("*.sip")) + list(d.glob("*.sdp")):
            old.unlink()

    section = None
    rows, skipped, fixes = [], [], []
    bodies = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        if line is not PAGE_BREAK:
            m = SECTION.match(line)
            if m:
                section = m.group(1)
        m = LABEL.match(line) if line is not PAGE_BREAK else None
        if not (m and section and section[0] in "23456789"):
            i += 1
            continue
        label, title = m.group(1), m.group(2)
        j = next_content(lines, i + 1)
        if j >= len(lines) or not START.match(lines[j] if lines[j] is not PAGE_BREAK else ""):
            note = lines[j].strip() if j < len(lines) and lines[j] is not PAGE_BREAK else "?"
            skipped.append((section, label, title, note))
            i += 1
            continue
        repairs = []
        fields, body, i = read_message(lines, j, repairs)
        start = fields[0]
        what = start.split()[1] if start.startswith("SIP/2.0") else start.split()[0]
        name = f"{section}-{label}-{what}"
        for r in repairs:
            fixes.append((name, f"continuation line `{r}` printed without its indent; folded"))
        body_bytes = "".join(l + "\r\n" for l in body).encode("ascii")
        cl = [k for k, f in enumerate(fields) if re.match(r"(?i)(content-length|l)\s*:", f)]
        if cl:
            printed = fields[cl[0]].split(":", 1)[1].strip()
            if printed != str(len(body_bytes)):
                fixes.append((name, f"Content-Length {printed} corrected to {len(body_bytes)}"))
            fields[cl[0]] = f"Content-Length: {len(body_bytes)}"
        else:
            fixes.append((name, f"Content-Length: {len(body_bytes)} added"))
            fields.append(f"Content-Length: {len(body_bytes)}")
        msg = ("\r\n".join(fields) + "\r\n\r\n").encode("ascii") + body_bytes
        (sip_dir / f"{name}.sip").write_bytes(msg)
        sdp = ""
        if body:
            sdp = bodies.setdefault(body_bytes, f"{section}-{label}.sdp")
            (sdp_dir / sdp).write_bytes(body_bytes)
        rows.append((name, title, len(msg), sdp))

    with open(sip_dir / "MANIFEST.md", "w", encoding="utf-8") as f:
        f.write("# RFC 3665 call-flow messages\n\n")
        f.write("Generated by `corpora/tools/extract_rfc3665.py` (see its docstring);\n")
        f.write("do not edit by hand. CRLF line ends, Content-Length recomputed.\n\n")
        f.write(f"{len(rows)} messages, {len(bodies)} distinct SDP bodies in `../../sdp/rfc3665/`.\n\n")
        f.write("| file | RFC label | bytes | SDP |\n|---|---|---|---|\n")
        for name, title, n, sdp in rows:
            f.write(f"| `{name}.sip` | {title} | {n} | {sdp and '`' + sdp + '`'} |\n")
        f.write("\n## Repairs\n\n")
        for name, what in fixes:
            f.write(f"- `{name}.sip`: {what}\n")
        if not fixes:
            f.write("None.\n")
        f.write("\n## Labels without a message of their own\n\n")
        for section, label, title, note in skipped:
            f.write(f"- {section} {label} ({title}): \"{note}\"\n")
    print(f"{len(rows)} messages, {len(bodies)} SDP bodies, {len(fixes)} repairs, "
          f"{len(skipped)} labels skipped", file=sys.stderr)


if __name__ == "__main__":
    main()
