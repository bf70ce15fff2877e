"""The standard X12 code lists the envelope checks and acknowledgements use.

Values are the codes of the X12 control standards: TA105 (interchange note), AK905 (group
syntax error), AK502 (transaction set syntax error), AK304 (segment syntax error) and AK403
(data element syntax error).
"""

from __future__ import annotations

from enum import StrEnum


class InterchangeNote(StrEnum):
    """TA105: what is wrong with an interchange's ISA/IEA."""

    NO_ERROR = "000"
    CONTROL_NUMBER_MISMATCH = "001"
    STANDARD_NOT_SUPPORTED = "002"
    VERSION_NOT_SUPPORTED = "003"
    SEGMENT_TERMINATOR_INVALID = "004"
    INVALID_SENDER_QUALIFIER = "005"
    INVALID_SENDER_ID = "006"
    INVALID_RECEIVER_QUALIFIER = "007"
    INVALID_RECEIVER_ID = "008"
    UNKNOWN_RECEIVER = "009"
    INVALID_AUTHORIZATION_QUALIFIER = "010"
    INVALID_AUTHORIZATION_VALUE = "011"
    INVALID_SECURITY_QUALIFIER = "012"
    INVALID_SECURITY_VALUE = "013"
    INVALID_DATE = "014"
    INVALID_TIME = "015"
    INVALID_STANDARDS_ID = "016"
    INVALID_VERSION = "017"
    INVALID_CONTROL_NUMBER = "018"
    INVALID_ACK_REQUESTED = "019"
    INVALID_TEST_INDICATOR = "020"
    INVALID_GROUP_COUNT = "021"
    INVALID_CONTROL_STRUCTURE = "022"
    PREMATURE_END = "023"
    INVALID_CONTENT = "024"
    DUPLICATE_CONTROL_NUMBER = "025"
    INVALID_ELEMENT_SEPARATOR = "026"
    INVALID_COMPONENT_SEPARATOR = "027"


class GroupError(StrEnum):
    """AK905-AK909: what is wrong with a functional group's GS/GE."""

    NOT_SUPPORTED = "1"
    VERSION_NOT_SUPPORTED = "2"
    TRAILER_MISSING = "3"
    CONTROL_NUMBER_MISMATCH = "4"
    COUNT_MISMATCH = "5"
    CONTROL_NUMBER_SYNTAX = "6"


class TransactionSetError(StrEnum):
    """AK502-AK506: what is wrong with a transaction set."""

    NOT_SUPPORTED = "1"
    TRAILER_MISSING = "2"
    CONTROL_NUMBER_MISMATCH = "3"
    COUNT_MISMATCH = "4"
    SEGMENTS_IN_ERROR = "5"
    INVALID_ID = "6"
    INVALID_CONTROL_NUMBER = "7"
    CONTROL_NUMBER_NOT_UNIQUE = "23"


class SegmentError(StrEnum):
    """AK304: what is wrong with one segment of a transaction set."""

    UNRECOGNIZED = "1"
    UNEXPECTED = "2"
    MANDATORY_MISSING = "3"
    LOOP_OVER_MAXIMUM = "4"
    OVER_MAXIMUM_USE = "5"
    NOT_IN_TRANSACTION_SET = "6"
    OUT_OF_SEQUENCE = "7"
    HAS_ELEMENT_ERRORS = "8"


class ElementError(StrEnum):
    """AK403: what is wrong with one data element."""

    MANDATORY_MISSING = "1"
    CONDITIONAL_MISSING = "2"
    TOO_MANY_ELEMENTS = "3"
    TOO_SHORT = "4"
    TOO_LONG = "5"
    INVALID_CHARACTER = "6"
    INVALID_CODE = "7"
    INVALID_DATE = "8"
    INVALID_TIME = "9"
    EXCLUSION_VIOLATED = "10"


class AckCode(StrEnum):
    """AK501 / AK901 / TA104: the verdict."""

    ACCEPTED = "A"
    ACCEPTED_WITH_ERRORS = "E"
    PARTIALLY_ACCEPTED = "P"  # AK901 only: some transaction sets rejected
    REJECTED = "R"
