import pytest

from stackr.config.units import format_duration, parse_byte_size, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1m30s", 90.0),
        ("30s", 30.0),
        ("1h", 3600.0),
        ("1.5h", 5400.0),
        ("300ms", 0.3),
        ("10us", 1e-5),
        ("1ns", 1e-9),
        ("2h45m", 9900.0),
        ("0", 0.0),
        ("+5s", 5.0),
        (10, 10.0),
        (0.5, 0.5),
        (" 5s ", 5.0),
    ],
)
def test_durations_as_go_parses_them(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "5x", "s", "1m30", "-5s", "1 m", True, None, [], -1])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512m", 512 * 1024**2),
        ("1g", 1024**3),
        ("1G", 1024**3),
        ("1gb", 1024**3),
        ("1GiB", 1024**3),
        ("1.5g", int(1.5 * 1024**3)),
        ("100k", 102400),
        ("100", 100),
        ("100b", 100),
        ("2 m", 2 * 1024**2),
        ("1t", 1024**4),
        (4096, 4096),
    ],
)
def test_byte_sizes_as_docker_parses_them(text: object, size: int) -> None:
    assert parse_byte_size(text) == size


@pytest.mark.parametrize("text", ["12x", "", "m", "1.2.3m", "-1m", "1ib", True, None, -5])
def test_bad_byte_sizes(text: object) -> None:
    with pytest.raises(ValueError):
        parse_byte_size(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (90, "1m30s"),
        (0, "0s"),
        (3600, "1h"),
        (0.3, "300ms"),
        (61.5, "1m1s500ms"),
        (1e-5, "10us"),
        (7200, "2h"),
        (3661, "1h1m1s"),
        (2.000001, "2s1us"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)
