"""Receipt key fields (service.fields) and the SROIE task-3 scorer, on synthetic OCR lines."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from models.eval.receipt_fields import compare, normalize_field, score_fields
from service.fields.amounts import find_amounts
from service.fields.dates import find_dates
from service.fields.receipt import extract_receipt_fields
from service.fields.types import Field, ReceiptFields
from service.ocr.types import Quad, TextLine

W, H = 600, 1200


def line(text: str, x: float, y: float, w: float | None = None, h: float = 20.0) -> TextLine:
    width = w if w is not None else 9.0 * len(text)
    quad = Quad(((x, y), (x + width, y), (x + width, y + h), (x, y + h)))
    return TextLine(quad=quad, text=text, score=0.98)


def receipt(*rows: tuple[str, ...] | str, top: float = 40.0) -> list[TextLine]:
    """One row per argument, 30 px apart; a tuple spreads its texts over the row, left to right."""
    out: list[TextLine] = []
    for i, row in enumerate(rows):
        texts = (row,) if isinstance(row, str) else row
        for j, text in enumerate(texts):
            out.append(line(text, 20.0 + 380.0 * j, top + 30.0 * i))
    return out


NORMAL = receipt(
    "INDAH GIFT & HOME DECO SDN BHD",
    "(123456-A)",
    "27,JALAN DEDAP 13,",
    "TAMAN JOHOR JAYA,",
    "81100 JOHOR BAHRU,JOHOR.",
    "TEL:07-3507405 FAX:07-3558160",
    "RECEIPT",
    "19/10/2018 20:49:59 #01",
    ("GF-TABLE LAMP", "55.90"),
    ("TOTAL AMT", "60.31"),
    ("ROUNDING ADJ", "-0.01"),
    ("TOTAL RM", "60.30"),
    ("CASH", "70.30"),
    ("CHANGE", "10.00"),
    "THANK YOU! PLEASE COME AGAIN!",
)


def test_normal_receipt() -> None:
    fields = extract_receipt_fields(NORMAL, W, H)
    assert fields.values() == {
        "company": "INDAH GIFT & HOME DECO SDN BHD",
        "date": "19/10/2018",
        "address": "27,JALAN DEDAP 13, TAMAN JOHOR JAYA, 81100 JOHOR BAHRU,JOHOR.",
        "total": "60.30",
    }
    assert fields.date is not None and fields.date.normalized == "2018-10-19"
    assert fields.total is not None
    assert (fields.total.normalized, fields.total.currency) == ("60.30", "MYR")
    assert fields.total.polygons == tuple(ln.quad for ln in NORMAL if ln.text == "60.30")
    assert fields.address is not None and len(fields.address.polygons) == 3
    for found in (fields.company, fields.date, fields.address, fields.total):
        assert found is not None and 0.0 < found.confidence <= 1.0


def test_company_split_over_rows_and_registration_number_dropped() -> None:
    lines = receipt(
        "31803017",
        "POPULAR BOOK",
        "CO. (M) SDN BHD (113825-W)",
        "NO 8, JALAN 7/118B, DESA TUN RAZAK",
        "56000 KUALA LUMPUR, MALAYSIA",
        "SUNWAY VELOCITY",
        "TEL : 03-9201 6281",
    )
    fields = extract_receipt_fields(lines, W, H)
    assert fields.company is not None and fields.company.value == "POPULAR BOOK CO. (M) SDN BHD"
    assert fields.address is not None
    assert fields.address.value == "NO 8, JALAN 7/118B, DESA TUN RAZAK 56000 KUALA LUMPUR, MALAYSIA"


def test_company_without_suffix_is_the_top_of_the_block_above_the_address() -> None:
    lines = receipt(
        "THREE STOOGES", "BISTRO & CAFE", "109, SS21/1A,", "DAMANSARA UTAMA", "GST ID : 1"
    )
    fields = extract_receipt_fields(lines, W, H)
    assert fields.company is not None and fields.company.value == "THREE STOOGES"
    assert fields.address is not None and fields.address.value == "109, SS21/1A, DAMANSARA UTAMA"


def test_no_total() -> None:
    lines = receipt(
        "KEDAI MAJU ENTERPRISE", "NO 1, JALAN SATU", "DATE: 01/02/2018", ("TEA", "2.50")
    )
    fields = extract_receipt_fields(lines, W, H)
    assert fields.total is None
    assert fields.date is not None and fields.date.value == "01/02/2018"


def test_two_dates_the_labelled_one_wins() -> None:
    lines = receipt("SHOP SDN BHD", "PROMO UNTIL 31/12/2018", "DATE: 19/10/2018 10:00", "X")
    fields = extract_receipt_fields(lines, W, H)
    assert fields.date is not None
    assert (fields.date.value, fields.date.normalized) == ("19/10/2018", "2018-10-19")


def test_two_unlabelled_dates_the_first_wins() -> None:
    lines = receipt("SHOP SDN BHD", "19-10-18 10:00", "PRINTED 20-10-18")
    fields = extract_receipt_fields(lines, W, H)
    assert fields.date is not None and fields.date.normalized == "2018-10-19"


def test_reading_order_and_junk_do_not_matter() -> None:
    junk = [line("*****", 20, 5), line("###", 500, 1100), line("1", 590, 600, w=8)]
    shuffled = NORMAL + junk
    random.Random(0).shuffle(shuffled)
    assert extract_receipt_fields(shuffled, W, H).values() == (
        extract_receipt_fields(NORMAL, W, H).values()
    )


def test_lines_outside_the_image_are_ignored() -> None:
    outside = [line("TOTAL 999.99", 20, H + 50)]
    assert extract_receipt_fields(NORMAL + outside, W, H).values()["total"] == "60.30"


def test_blank_image_gives_no_fields() -> None:
    fields = extract_receipt_fields([], W, H)
    assert fields == ReceiptFields()
    assert fields.to_dict() == {"company": None, "date": None, "address": None, "total": None}


def test_only_junk_gives_no_fields() -> None:
    fields = extract_receipt_fields(receipt("*****", "###", "-----"), W, H)
    assert fields.values() == {"company": None, "date": None, "address": None, "total": None}


@pytest.mark.parametrize(
    ("row", "value", "decimal", "currency"),
    [
        (("TOTAL", "RM 1,234.50"), "1,234.50", "1234.50", "MYR"),
        (("TOTAL", "RM1,234.50"), "RM1,234.50", "1234.50", "MYR"),
        (("TOTAL RM", "60.30"), "60.30", "60.30", "MYR"),
        (("Total (Inclusive of GST):", "47.70"), "47.70", "47.70", None),
        (("NETT TOTAL:", "$8.20"), "$8.20", "8.20", None),
        (("AMT DUE", "12,000.00"), "12,000.00", "12000.00", None),
    ],
)
def test_total_amounts(
    row: tuple[str, str], value: str, decimal: str, currency: str | None
) -> None:
    lines = receipt("SHOP SDN BHD", ("SUB TOTAL", "999.00"), row, ("CASH", "2000.00"))
    total = extract_receipt_fields(lines, W, H).total
    assert total is not None
    assert (total.value, total.normalized, total.currency) == (value, decimal, currency)


def test_total_prefers_the_rounded_total_over_the_gst_summary() -> None:
    lines = receipt(
        "SHOP SDN BHD",
        ("Total Sales (Excluding GST)", "45.00"),
        ("Total GST", "2.70"),
        ("Rounding", "0.00"),
        ("Total Sales (Inclusive of GST):", "47.70"),
        ("CASH :", "50.00"),
        ("Change :", "2.30"),
        ("GST Summary", "Amount"),
        ("Total :", "45.00"),
    )
    total = extract_receipt_fields(lines, W, H).total
    assert total is not None and total.value == "47.70"


@pytest.mark.parametrize(
    ("rows", "value"),
    [
        # a sign after a colon is still printed with the amount
        ([("TOTAL AMOUNT:$6.90", ""), ("CASH", "10.00")], "$6.90"),
        # one row, two labelled amounts: the saving is not the total
        ([("ITEMS 2", ""), ("TOTAL SAVING 0.00 TOTAL", "77.20"), ("CASH", "100.00")], "77.20"),
        # a bare DUE and what was tendered (ACCEPTED TOTAL) after it
        ([("DUE", "7.50"), ("ACCEPTED TOTAL", "10.00"), ("CHANGE", "2.50")], "7.50"),
        # the tax line says "included in total": it is the tax, not the total
        ([("TOTAL INCL. GST@6%", "RM 31.20"), ("GST @6% INCLUDED IN TOTAL", "RM 1.77")], "31.20"),
        # a 0.00 total after rounding is a placeholder; the bare amount under it is paid
        (
            [
                ("ROUNDING", "0.00"),
                ("TOTAL AFTER ROUNDING", "0.00"),
                ("", "5.00"),
                ("CASH", "5.00"),
            ],
            "5.00",
        ),
        # the ROUNDING row carries the rounded total
        (
            [
                ("TOTAL SALES (INCLUSIVE GST)", "RM 52.08"),
                ("ROUNDING", "RM 52.10"),
                ("CASH", "RM 60.00"),
                ("CHANGE", "RM 7.90"),
            ],
            "52.10",
        ),
        # a word after ROUNDING that is not a total (the cash tendered) is not taken
        (
            [("ROUNDING ADJ", "0.00"), ("RINGGIT", "20.00"), ("TOTAL INCLUSIVE OF TAX", "11.25")],
            "11.25",
        ),
        # no TOTAL word read: the amount paid (cash - change) where it is printed above
        ([("SUBTOTAL", "28.11"), ("", "29.80"), ("CASH", "50.00"), ("CHANGE", "20.20")], "29.80"),
    ],
)
def test_total_rules(rows: list[tuple[str, str]], value: str) -> None:
    lines = receipt(
        "SHOP SDN BHD", ("NASI LEMAK", "9.80"), *[tuple(t for t in r if t) for r in rows]
    )
    total = extract_receipt_fields(lines, W, H).total
    assert total is not None and total.value == value


def test_no_total_without_a_keyword_or_payment() -> None:
    lines = receipt("SHOP SDN BHD", ("NASI LEMAK", "9.80"), ("TEH O", "1.80"))
    assert extract_receipt_fields(lines, W, H).total is None


@pytest.mark.parametrize(
    ("rows", "company", "address"),
    [
        # the shop's name above the address; a SDN BHD printed further down is the owner
        (
            [
                "SANYA STATIONERY SHOP",
                "NO. 31G, JALAN SETIA 1",
                "40170 SETIA ALAM",
                "TEL: 03-3362 4137",
                "OWNED BY :",
                "SANYA SUPPLY SDN BHD (1135772-K)",
            ],
            "SANYA STATIONERY SHOP",
            "NO. 31G, JALAN SETIA 1 40170 SETIA ALAM",
        ),
        # registration and GST rows between the name and the address are skipped
        (
            [
                "B & C RESTAURANT",
                "(001610235-P)",
                "GST NO. : 001800839168",
                "NO.12,JALAN SS4C/5,PETALING JAYA",
                "SELANGOR DARUL EHSAN",
                "TEL : 012-2060 778",
            ],
            "B & C RESTAURANT",
            "NO.12,JALAN SS4C/5,PETALING JAYA SELANGOR DARUL EHSAN",
        ),
        # a registration number in the company's row; a postcode row ends the address
        (
            [
                "ACME REALTIES SDN BHD (CO. NO:20154-T)",
                "LOT 1-0-2, JLN 1/50,",
                "53000 KL",
                "TEL: 03-4021 1233",
            ],
            "ACME REALTIES SDN BHD",
            "LOT 1-0-2, JLN 1/50, 53000 KL",
        ),
        # "TAX INVOICE" above the name; an unbracketed registration number and branch code after it
        (
            [
                "TAX INVOICE",
                "KING'S CAKES S/B 273500-U (KSB)",
                "PT17920, SEKSYEN U9,",
                "40150 SHAH ALAM",
            ],
            "KING'S CAKES S/B",
            "PT17920, SEKSYEN U9, 40150 SHAH ALAM",
        ),
        # a phone-like number is not where the address starts
        (
            [
                "#000002 BAIFU (M) SDN BHD",
                "(417940-M),",
                "3-1708032",
                "A-G-06, DATARAN GLOMAC,",
                "47301 PJ",
            ],
            "BAIFU (M) SDN BHD",
            "A-G-06, DATARAN GLOMAC, 47301 PJ",
        ),
    ],
)
def test_header_rules(rows: list[str], company: str, address: str) -> None:
    values = extract_receipt_fields(receipt(*rows), W, H).values()
    assert (values["company"], values["address"]) == (company, address)


@pytest.mark.parametrize(
    ("text", "value", "iso"),
    [
        ("19/10/2018 20:49:59", "19/10/2018", "2018-10-19"),
        ("Date: 19-10-18", "19-10-18", "2018-10-19"),
        ("19.10.18 14:08", "19.10.18", "2018-10-19"),
        ("19 OCT 2018", "19 OCT 2018", "2018-10-19"),
        ("10 Mar 2018 18:24", "10 Mar 2018", "2018-03-10"),
        ("28 MAR 18", "28 MAR 18", "2018-03-28"),
        ("25/Feb/2017 07:43:54", "25/Feb/2017", "2017-02-25"),
        ("05-JAN-2017", "05-JAN-2017", "2017-01-05"),
        ("2018-10-19 22:17PM", "2018-10-19", "2018-10-19"),
        ("DATE :12/28/2017 10:17:32 PM", "12/28/2017", "2017-12-28"),
        ("Oct 19, 2018", "Oct 19, 2018", "2018-10-19"),
        ("Date: 05-03-201819:02:50", "05-03-2018", "2018-03-05"),
        ("6/4/2018", "6/4/2018", "2018-04-06"),
    ],
)
def test_dates(text: str, value: str, iso: str) -> None:
    found = find_dates(text)
    assert [(d.value, d.iso) for d in found[:1]] == [(value, iso)]
    lines = receipt("SHOP SDN BHD", text)
    date = extract_receipt_fields(lines, W, H).date
    assert date is not None and (date.value, date.normalized) == (value, iso)


@pytest.mark.parametrize("text", ["32/13/2018", "18/03/1E", "TEL:07-3507405", "1/ 1/14", "99.99"])
def test_not_dates(text: str) -> None:
    assert find_dates(text) == []


def test_amount_patterns() -> None:
    found = find_amounts("2 * RM 33.02 UNI ( 3.96)=RM 66.04 -0.01 15.50SR 1,234.50")
    assert [(a.value, a.decimal, a.negative) for a in found] == [
        ("33.02", "33.02", False),
        ("3.96", "3.96", False),
        ("66.04", "66.04", False),
        ("-0.01", "0.01", True),
        ("15.50", "15.50", False),
        ("1,234.50", "1234.50", False),
    ]
    assert find_amounts("TEL 03-3362 4395 12:06 1.5KG GST @6.00%") == []


def test_to_dict_is_json_ready() -> None:
    quad = Quad(((1.04, 2.06), (3.0, 2.0), (3.0, 4.0), (1.0, 4.0)))
    fields = ReceiptFields(total=Field("60.30", "60.30", "MYR", 0.9, (quad,)))
    out = fields.to_dict()
    assert out["company"] is None
    assert out["total"] == {
        "value": "60.30",
        "normalized": "60.30",
        "currency": "MYR",
        "confidence": 0.9,
        "polygons": [[[1.0, 2.1], [3.0, 2.0], [3.0, 4.0], [1.0, 4.0]]],
    }
    json.dumps(extract_receipt_fields(NORMAL, W, H).to_dict())


def test_no_heavy_imports() -> None:
    code = (
        "import sys, service.fields;"
        "heavy = {'fastapi', 'redis', 'prometheus_client', 'torch', 'onnxruntime'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the SROIE task-3 scorer ---


def test_normalize_field() -> None:
    assert normalize_field("  Indah  Gift\n& home ") == "indah gift & home"
    assert normalize_field("27, JALAN", ignore_spaces=True) == "27,jalan"
    assert normalize_field(None) == ""


@pytest.mark.parametrize(
    ("pred", "gold", "counts"),
    [
        ("60.30", "60.30", (1, 0, 0)),
        ("indah  GIFT", "INDAH GIFT", (1, 0, 0)),
        ("60.31", "60.30", (0, 1, 1)),
        (None, "60.30", (0, 0, 1)),
        ("", "60.30", (0, 0, 1)),
        ("$8.20", "", (0, 1, 0)),
        (None, "", (0, 0, 0)),
    ],
)
def test_compare(pred: str | None, gold: str, counts: tuple[int, int, int]) -> None:
    c = compare(pred, gold)
    assert (c.tp, c.fp, c.fn) == counts


def test_score_fields_micro_and_per_field() -> None:
    gold = [
        {"company": "A SDN BHD", "date": "01/01/2018", "address": "X", "total": "1.00"},
        {"company": "B", "date": "02/01/2018", "address": "Y", "total": "2.00"},
    ]
    pred: list[dict[str, str | None]] = [
        {"company": "a sdn bhd", "date": "01/01/2018", "address": None, "total": "1.00"},
        {"company": "C", "date": "02/01/2018", "address": "Y", "total": None},
    ]
    report = score_fields(pred, gold)
    assert report.n == 2
    assert report.per_field["company"].f1 == pytest.approx(0.5)
    assert report.per_field["date"].f1 == 1.0
    micro = report.micro
    assert (micro.tp, micro.fp, micro.fn) == (5, 1, 3)
    assert micro.precision == pytest.approx(5 / 6)
    assert micro.recall == pytest.approx(5 / 8)
    assert report.as_dict()["micro"]["tp"] == 5  # type: ignore[index]


def test_score_fields_lenient_and_errors() -> None:
    gold = [{"company": "", "date": "", "address": "27, JALAN", "total": ""}]
    pred: list[dict[str, str | None]] = [{"address": "27,JALAN"}]
    assert score_fields(pred, gold).micro.f1 == 0.0
    assert score_fields(pred, gold, ignore_spaces=True).micro.f1 == 1.0
    assert score_fields([], []).micro.f1 == 0.0
    with pytest.raises(ValueError):
        score_fields(pred, [])
