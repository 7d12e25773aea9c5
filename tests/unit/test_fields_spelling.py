"""The recogniser's confusions undone in header text, and codes that must stay as printed."""

from __future__ import annotations

import pytest

from service.fields.spelling import fix_address, fix_company, fix_confusions


@pytest.mark.parametrize(
    ("read", "fixed"),
    [
        ("KMF FO0DICIOUS SDN BHD", "KMF FOODICIOUS SDN BHD"),
        ("JALAN SET1A INDAH", "JALAN SETIA INDAH"),
        ("NO 29O, JALAN", "NO 290, JALAN"),
        ("Jalan 7/1l8B", "Jalan 7/118B"),
    ],
)
def test_a_digit_among_letters_and_a_letter_among_digits_are_fixed(read: str, fixed: str) -> None:
    assert fix_confusions(read) == fixed


@pytest.mark.parametrize(
    "code",
    ["SEKSYEN U13, 40170", "JLN PJU 1A/3", "JALAN SS21/39", "LEVEL G2, BLOCK D1", "UPTOWN3 NO.3"],
)
def test_codes_that_mix_letters_and_digits_stay_as_printed(code: str) -> None:
    assert fix_confusions(code) == code
    assert fix_address(code) == code


@pytest.mark.parametrize(
    ("read", "fixed"),
    [
        ("First City Parking Sn Bhd", "First City Parking Sdn Bhd"),
        ("SWC ENTERPRISE SIN BHD", "SWC ENTERPRISE SDN BHD"),
        ("(SETIA ALAM)SDN BHHD", "(SETIA ALAM) SDN BHD"),
        ("99 SPEED MART S/D", "99 SPEED MART S/B"),
        ("BEMED (SP) SDN. BHD.", "BEMED (SP) SDN. BHD."),
        ("SUN VICTORY SDN BHD", "SUN VICTORY SDN BHD"),
    ],
)
def test_company_suffixes_misread_by_one_character(read: str, fixed: str) -> None:
    assert fix_company(read) == fixed


def test_a_state_one_edit_away_is_the_state_and_other_words_are_left() -> None:
    assert fix_address("41150 KLANG, SCLANGOR") == "41150 KLANG, SELANGOR"
    assert fix_address("Petaling Jaya, Selangar") == "Petaling Jaya, Selangor"
    assert fix_address("TAMAN BERKELEY") == "TAMAN BERKELEY"  # not near any place name


@pytest.mark.parametrize(
    ("read", "fixed"),
    [
        ("AIK HUAT ENTERPRISE (SETIA ALAM) SDNBHD", "AIK HUAT ENTERPRISE (SETIA ALAM) SDN BHD"),
        ("MR. D.I.Y.(M)SDN BHD", "MR. D.I.Y. (M) SDN BHD"),
        ("UNIHAKKA INTERNATIONAL·SDN BHD", "UNIHAKKA INTERNATIONAL SDN BHD"),
        ("Taste Of The WorId Sdn Bhd", "Taste Of The World Sdn Bhd"),
        ("99 SPEED MART 5/B", "99 SPEED MART S/B"),
        ("SEGI CASH & CARRY SDN.BHD", "SEGI CASH & CARRY SDN.BHD"),  # printed so, kept
        ("BIG (M) SDN BHD", "BIG (M) SDN BHD"),
    ],
)
def test_company_spacing_the_recogniser_lost(read: str, fixed: str) -> None:
    assert fix_company(read) == fixed


@pytest.mark.parametrize(
    ("read", "fixed"),
    [
        ("NO.12,JA:AN SS4C/5,PETALING JAYA SE_ANGOR", "NO.12,JALAN SS4C/5,PETALING JAYA SELANGOR"),
        ("KAWASAN PERTNDUSTRIAN BALAKUNG", "KAWASAN PERINDUSTRIAN BALAKONG"),
        ("TAMAN DAYA. 81100 JOHOR BAHRU", "TAMAN DAYA, 81100 JOHOR BAHRU"),
        # short real words one edit from an address word stay; abbreviations keep their stop
        ("LOT 5, GROUND FLOOR, KEDAI ROUND", "LOT 5, GROUND FLOOR, KEDAI ROUND"),
        ("NO. 3, JLN. BT 3, P.RAMLEE", "NO. 3, JLN. BT 3, P.RAMLEE"),
    ],
)
def test_address_words_and_stops(read: str, fixed: str) -> None:
    assert fix_address(read) == fixed
