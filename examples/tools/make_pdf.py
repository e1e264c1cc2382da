"""Writes the demo corpus's PDFs (text PDFs with the standard Helvetica font).

    python3 examples/tools/make_pdf.py

Kept so the PDFs can be regenerated and reviewed as text; no dependencies.
"""

from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"

PDFS = {
    "people/code-of-conduct.pdf": [
        ("Code of conduct", 18),
        ("We treat colleagues, customers and partners with respect.", 11),
        ("Harassment, discrimination and bullying are not tolerated.", 11),
        ("Report a concern to your manager, to People Operations, or anonymously", 11),
        ("through the ethics hotline. Reports are investigated within ten business days,", 11),
        ("and nobody is penalised for raising a concern in good faith.", 11),
        ("Gifts from suppliers worth more than 50 euros must be declined or declared.", 11),
    ],
    "products/avalanche-safety.pdf": [
        ("Avalanche safety", 18),
        ("Carry a transceiver, a probe and a shovel on every winter tour, and practise with them.", 11),
        ("Check the regional avalanche bulletin before leaving; at danger level 4 or 5 stay on", 11),
        ("marked and secured pistes. Most avalanche accidents happen on slopes steeper than", 11),
        ("30 degrees, and most are triggered by the victims themselves.", 11),
        ("A buried person has the best chance of survival if dug out within 15 minutes.", 11),
    ],
}


def escape(text):
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf(lines):
    content = ["BT", "72 740 Td"]
    for i, (text, size) in enumerate(lines):
        content.append(f"/F1 {size} Tf")
        if i:
            content.append(f"0 -{size + 10} Td")
        content.append(f"({escape(text)}) Tj")
    content.append("ET")
    stream = "\n".join(content).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


if __name__ == "__main__":
    for name, lines in PDFS.items():
        (DOCS / name).write_bytes(pdf(lines))
        print("wrote", DOCS / name)
