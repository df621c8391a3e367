"""Pick which attachment is the referral form and build the Extraction.

One recognised form (enough labels found) wins, with supporting documents
beside it. Two recognised forms that disagree go to manual review. With no
recognised form, a file that could not be read gives its reason, and a
readable file with too few labels is "not-recognised".
"""

from __future__ import annotations

from collections.abc import Sequence

from ..domain.models import Attachment, Extraction
from ..domain.records import ReviewReason
from ..domain.rules import Rules
from .labels import LabelMatcher
from .read import FileResult, kind_of, read_attachment

# When several files could not be read, the reason that tells a person most.
REASON_ORDER = (
    ReviewReason.ENCRYPTED_EMAIL,
    ReviewReason.ENCRYPTED,
    ReviewReason.TOO_LARGE,
    ReviewReason.TIMEOUT,
    ReviewReason.DAMAGED,
    ReviewReason.SCAN,
    ReviewReason.UNSUPPORTED,
)


def form_candidates(attachments: Sequence[Attachment], rules: Rules) -> list[Attachment]:
    """The attachments that carry a form (PDF, Word, ODT, photographed or encrypted)."""
    return [a for a in attachments if kind_of(a, rules) is not None]


def extract(
    attachments: Sequence[Attachment],
    rules: Rules,
    body_text: str = "",
    matcher: LabelMatcher | None = None,
) -> Extraction:
    """Read the referral form among a message's attachments, in this process.

    `body_text` is accepted for the worker's convenience; a form pasted into
    the body is not read (the form must be attached).
    """
    del body_text
    candidates = form_candidates(attachments, rules)
    if not candidates:
        return Extraction(source="none", carries_form=False)
    matcher = matcher or LabelMatcher(rules)
    results = [read_attachment(a, rules, matcher) for a in candidates]
    return choose(results, rules)


def choose(results: Sequence[FileResult], rules: Rules) -> Extraction:
    """The Extraction for a message whose form-carrying files were read to `results`."""
    if not results:
        return Extraction(source="none", carries_form=False)
    forms = [r for r in results if r.reason is None and r.labels_found >= rules.min_labels_found]
    if forms:
        forms.sort(key=lambda r: (-len(r.fields), -r.labels_found))
        best = forms[0]
        if any(_disagree(best, other) for other in forms[1:]):
            return Extraction(
                source=best.source,
                review_reason=ReviewReason.SEVERAL_FORMS,
                filename=best.filename,
                carries_form=True,
            )
        return Extraction(
            source=best.source,
            fields=dict(best.fields),
            where=dict(best.where),
            filename=best.filename,
            carries_form=True,
        )
    unreadable = [r for r in results if r.reason]
    if unreadable:
        worst = min(unreadable, key=lambda r: _rank(r.reason))
        return Extraction(
            source=worst.source,
            review_reason=worst.reason,
            filename=worst.filename,
            carries_form=True,
        )
    return Extraction(
        source=results[0].source,
        review_reason=ReviewReason.NOT_RECOGNISED,
        filename=results[0].filename,
        carries_form=True,
    )


def _rank(reason: ReviewReason | None) -> int:
    return REASON_ORDER.index(reason) if reason in REASON_ORDER else len(REASON_ORDER)


def _disagree(one: FileResult, other: FileResult) -> bool:
    """Two forms disagree when an answer both give differs (spacing and case aside)."""
    for key in one.fields.keys() & other.fields.keys():
        if " ".join(one.fields[key].lower().split()) != " ".join(other.fields[key].lower().split()):
            return True
    return False
