"""Exact money: integer minor units beside an ISO 4217 currency. Never float."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from openoms.domain.errors import AmountInvalid, AmountTooLarge, CurrencyMismatch, CurrencyUnknown

# ISO 4217 active codes with their minor-unit exponent (2 unless listed otherwise).
_EXPONENT_0 = frozenset(
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split()
)
_EXPONENT_3 = frozenset("BHD IQD JOD KWD LYD OMR TND".split())
_EXPONENT_4 = frozenset("CLF UYW".split())
_EXPONENT_2 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
    GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP
    LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
    NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP
    STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES VED WST XCD XCG YER
    ZAR ZMW ZWG""".split()
)
CURRENCY_EXPONENTS: dict[str, int] = {
    **{c: 2 for c in _EXPONENT_2},
    **{c: 0 for c in _EXPONENT_0},
    **{c: 3 for c in _EXPONENT_3},
    **{c: 4 for c in _EXPONENT_4},
}


def currency_exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise CurrencyUnknown(
            f"'{currency}' is not an ISO 4217 currency code", field="currency"
        ) from None


_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]+)?")

MAX_INTEGER_DIGITS = 15
# Minor units never pass 18 digits (so the four-decimal currencies get 14 integer digits):
# every stored amount, and the sum of any two, fits a signed 64-bit column.
_MAX_MINOR_DIGITS = 18


def max_minor(currency: str) -> int:
    """The largest amount, in minor units, that the API takes or stores in `currency`."""
    digits = min(MAX_INTEGER_DIGITS + currency_exponent(currency), _MAX_MINOR_DIGITS)
    return int("9" * digits)


def check_amount(minor: int, currency: str, *, field: str, what: str | None = None) -> int:
    """`minor` if its size is within `max_minor(currency)`, given or computed (a line
    total, an order total), else AmountTooLarge naming `field` (`what`: the amount's name
    in the message, default the field)."""
    limit = max_minor(currency)
    if abs(minor) > limit:
        digits = len(str(limit)) - currency_exponent(currency)
        raise AmountTooLarge(
            f"{what or field} would be {format_minor(minor, currency)} {currency}; amounts "
            f"have at most {digits} integer digits",
            field=field,
            max_amount=format_minor(limit, currency),
        )
    return minor


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: `minor` units of `currency` (pence, cents, yen)."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        currency_exponent(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str | Decimal | int, currency: str, *, field: str = "amount") -> Money:
        """Parse a plain decimal such as "12.34" exactly (digits only: no exponent, sign "+",
        separators or spaces); more decimals than the currency allows fail."""
        exponent = currency_exponent(currency)
        if isinstance(text, Decimal):
            if not text.is_finite():
                raise AmountInvalid(f"{field}: '{text}' is not a finite amount", field=field)
            text = format(text, "f")
        elif isinstance(text, int) and not isinstance(text, bool):
            text = str(text)
        if not isinstance(text, str) or not _AMOUNT.fullmatch(text):
            raise AmountInvalid(
                f"{field}: '{text}' is not a decimal amount like '12.34'", field=field
            )
        whole, _, fraction = text.lstrip("-").partition(".")
        fraction = fraction.rstrip("0")
        if len(fraction) > exponent:
            raise AmountInvalid(
                f"{field}: '{text}' has more than {exponent} decimal places for {currency}",
                field=field,
            )
        minor = int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
        minor = -minor if text.startswith("-") else minor
        return cls(check_amount(minor, currency, field=field), currency)

    def to_decimal(self) -> Decimal:
        return Decimal(self.minor).scaleb(-currency_exponent(self.currency))

    def __str__(self) -> str:
        exponent = currency_exponent(self.currency)
        sign = "-" if self.minor < 0 else ""
        whole, frac = divmod(abs(self.minor), 10**exponent)
        return f"{sign}{whole}.{frac:0{exponent}d}" if exponent else f"{sign}{whole}"

    def _check(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __mul__(self, factor: int) -> Money:
        return Money(self.minor * factor, self.currency)

    def is_zero(self) -> bool:
        return self.minor == 0


def format_minor(minor: int, currency: str) -> str:
    """The API's decimal string for an amount in minor units."""
    return str(Money(minor, currency))


def distribute(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` minor units over `weights` by the largest-remainder rule.

    Shares are proportional to the weights, rounded toward zero, and the units left over go
    one each to the largest remainders (earliest first on ties), so the shares always sum to
    `total` exactly and each is within one unit of its exact proportion. All-zero weights
    split evenly. The sign of `total` is carried by every share.
    """
    if not weights:
        if total:
            raise ValueError("cannot distribute a non-zero amount over no lines")
        return []
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    basis = list(weights) if any(weights) else [1] * len(weights)
    denominator = sum(basis)
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    shares = [magnitude * w // denominator for w in basis]
    remainders = [magnitude * w % denominator for w in basis]
    left = magnitude - sum(shares)
    order = sorted(range(len(basis)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        shares[i] += 1
    return [sign * s for s in shares]
