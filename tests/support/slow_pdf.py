"""A small PDF that keeps a form reader busy until its time limit (16 KB, 5 MB of text ops)."""

from __future__ import annotations

import zlib

from support.forms_pdf import raw_pdf


def slow_pdf(repeats: int = 100_000) -> tuple[str, str, bytes]:
    content = zlib.compress(b"BT /F1 12 Tf 72 720 Td (Prevent referral form) Tj ET\n" * repeats,
                            9)
    return "referral.pdf", "application/pdf", raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ])
