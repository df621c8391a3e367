"""Write the demo's sample mailbox (intake/samples/*.eml).

Run from the project root: `python tools/make_samples.py`. It needs the test
dependencies (reportlab, pypdf, python-docx) and uses the same form makers as
the tests; the .eml files it writes are committed, so `intake demo` needs
none of them. Every person in them is invented.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support.forms import SAMPLE_VALUES, make_encrypted_pdf, make_form, make_scan_pdf  # noqa: E402
from support.mail import raw_email, referral_email  # noqa: E402

OUT = ROOT / "intake" / "samples"

ADULT = {
    **SAMPLE_VALUES,
    "subject_forenames": "Dariusz",
    "subject_surname": "Whitfield-Mensah",
    "subject_dob": "14 February 1994",
    "subject_gender": "Male",
    "subject_address": "27 Brockley Rise\nLondon SE23 1JG",
    "concerns": "Since leaving his job in May he has been posting material from a banned "
    "organisation on social media and talks about wanting to join them abroad.\n"
    "His housing officer noticed flags and leaflets in the flat during a visit.",
    "other_information": "Housing officer visits fortnightly.",
    "referrer_name": "Priya Raman",
    "referrer_role": "Housing officer, Lewisham Homes",
    "referrer_phone": "020 8314 0000",
    "referrer_email": "priya.raman@housing.example.org",
}

TEEN = {
    **SAMPLE_VALUES,
    "subject_forenames": "Kai",
    "subject_surname": "Brennan",
    "subject_dob": "2009-09-30",
    "concerns": "Kai has told friends he admires a group that spreads hateful propaganda "
    "and has been watching its videos in lessons.",
    "other_information": "",
    "referrer_name": "Sam Okafor",
    "referrer_role": "Youth worker, Lewisham Youth Service",
    "referrer_email": "sam.okafor@youth.example.org",
}


def sender(values: dict[str, str]) -> str:
    return f"{values['referrer_name']} <{values['referrer_email']}>"


def samples() -> dict[str, bytes]:
    incomplete = {**TEEN, "subject_surname": "", "individual_aware": "",
                  "subject_dob": "31/02/2009"}
    return {
        "01-word-form-urgent.eml": referral_email(
            [make_form("docx", SAMPLE_VALUES)], sender=sender(SAMPLE_VALUES),
            message_id="<demo-01@prendergast.example.org>"),
        "02-fillable-pdf-incomplete.eml": referral_email(
            [make_form("pdf-form", incomplete)], sender=sender(TEEN),
            cc=["mashagency@lewisham.gov.uk"], subject="Referral form - Prevent",
            message_id="<demo-02@youth.example.org>"),
        "03-flat-pdf-adult.eml": referral_email(
            [make_form("pdf-text", ADULT)], sender=sender(ADULT),
            subject="Prevent National Referral Form",
            message_id="<demo-03@housing.example.org>"),
        "04-older-word-form-with-tick-boxes.eml": referral_email(
            [make_form("docx-controls", ADULT, older_labels=True)], sender=sender(ADULT),
            message_id="<demo-04@housing.example.org>"),
        "05-generic-fillable-pdf.eml": referral_email(
            [make_form("pdf-form-generic", TEEN)], sender=sender(TEEN),
            message_id="<demo-05@youth.example.org>"),
        "06-scanned-form.eml": referral_email(
            [make_scan_pdf()], sender="Gp Surgery <reception@surgery.example.org>",
            message_id="<demo-06@surgery.example.org>"),
        "07-password-protected.eml": referral_email(
            [make_encrypted_pdf()], sender="School Office <office@school.example.org>",
            message_id="<demo-07@school.example.org>"),
        "08-no-form-attached.eml": referral_email(
            [], sender="School Office <office@school.example.org>",
            subject="Prevent referral for a pupil",
            body="Please treat this as a Prevent referral, I will send the form later.",
            message_id="<demo-08@school.example.org>"),
        "09-correction-of-02.eml": referral_email(
            [make_form("pdf-form", TEEN)], sender=sender(TEEN),
            to=["preventreferrals@met.pnn.police.uk"],
            cc=["mashagency@lewisham.gov.uk", "prevent@lewisham.gov.uk"],
            subject="RE: Referral form - Prevent (corrected)",
            headers={"In-Reply-To": "<demo-02@youth.example.org>",
                     "References": "<demo-02@youth.example.org>"},
            message_id="<demo-09@youth.example.org>"),
        "13-flat-pdf-incomplete-not-copied-in.eml": referral_email(
            [make_form("pdf-text", {**ADULT, "referrer_phone": "", "referrer_email": "priya at "
                                    "housing"})],
            sender=sender(ADULT), to=["prevent@lewisham.gov.uk"], cc=[],
            message_id="<demo-13@housing.example.org>"),
        "10-out-of-office.eml": raw_email(
            "Auto-Submitted: auto-replied\r\nMessage-ID: <demo-10@school.example.org>\r\n",
            "I am out of the office until Monday.",
            head="From: Head Teacher <head@school.example.org>\r\n"
                 "To: prevent@lewisham.gov.uk\r\nSubject: Automatic reply: Prevent training\r\n"),
        "11-newsletter.eml": raw_email(
            "List-Id: <safeguarding-news.example.org>\r\nPrecedence: list\r\n"
            "Message-ID: <demo-11@news.example.org>\r\n",
            "This month: Prevent duty training dates.",
            head="From: Safeguarding News <news@news.example.org>\r\n"
                 "To: prevent@lewisham.gov.uk\r\nSubject: Safeguarding newsletter\r\n"),
        "12-question-not-a-referral.eml": raw_email(
            "Message-ID: <demo-12@school.example.org>\r\n",
            "Could you tell me when the next WRAP training session is?",
            head="From: Teacher <teacher@school.example.org>\r\n"
                 "To: prevent@lewisham.gov.uk\r\nSubject: Training dates\r\n"),
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.eml"):
        old.unlink()
    for name, data in samples().items():
        (OUT / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
