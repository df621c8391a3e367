"""The extract stage: read the referral form attached to a message.

    extract(attachments, rules) -> Extraction      in this process
    ParserPool(rules).extract(attachments)          in isolated worker processes

Readers: pdf_form (AcroForm fields), pdf_text (flat PDF words, lines and
table cells), docx_form (Word tables, ticks and content controls). Label
wording comes from rules/fields.toml through labels.LabelMatcher; choose
picks the form among the attachments; pool runs it all with time and
memory limits.
"""

from .choose import extract
from .pool import ParserPool

__all__ = ["ParserPool", "extract"]
