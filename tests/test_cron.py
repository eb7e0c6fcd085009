"""Tests for the cron parser: each grammar feature, each error, time zones, and croniter parity.

The parser is dbos_lite's cron section (or the module named by $CRON_MODULE, to test a copy of the
section on its own).
"""

import importlib
import os
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

# croniter is the reference the parity tests compare against; without it there is nothing to run.
pytest.importorskip("croniter")
from croniter import CroniterBadDateError, croniter  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

MODULE = importlib.import_module(os.environ.get("CRON_MODULE", "dbos_lite"))
_parse_cron = MODULE._parse_cron

UTC = timezone.utc
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")
KOLKATA = ZoneInfo("Asia/Kolkata")
START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def fire_times(expression, start=START, count=4):
    """The first `count` fire times after `start`, as ISO strings."""
    cron, moment, times = _parse_cron(expression), start, []
    for _ in range(count):
        moment = cron.next_after(moment)
        times.append(moment.isoformat())
    return times


def croniter_times(expression, start, count):
    """What DBOS Transact 3.4 computes: croniter with seconds first."""
    iterator = croniter(expression, start, second_at_beginning=True)
    return [iterator.get_next(datetime) for _ in range(count)]


# ---- Grammar ----

@pytest.mark.parametrize("expression, expected", [
    ("* * * * *", ["00:01", "00:02", "00:03", "00:04"]),
    ("*/15 * * * *", ["00:15", "00:30", "00:45", "01:00"]),
    ("5 * * * *", ["00:05", "01:05", "02:05", "03:05"]),
    ("10-12 * * * *", ["00:10", "00:11", "00:12", "01:10"]),
    ("10-40/15 * * * *", ["00:10", "00:25", "00:40", "01:10"]),
    ("50/5 * * * *", ["00:50", "00:55", "01:50", "01:55"]),
    ("59/15 * * * *", ["00:59", "01:59", "02:59", "03:59"]),
    ("0,30 * * * *", ["00:30", "01:00", "01:30", "02:00"]),
    ("1,2-3/2,7 * * * *", ["00:01", "00:02", "00:07", "01:01"]),
    ("0 22-1 * * *", ["01:00", "22:00", "23:00", "00:00"]),  # wraps past midnight
    ("0 22-3/3 * * *", ["01:00", "22:00", "01:00", "22:00"]),  # croniter: 02:00, 22:00
    ("05 *  * * *", ["00:05", "01:05", "02:05", "03:05"]),
    ("0-59/61 * * * *", ["01:00", "02:00", "03:00", "04:00"]),  # a step past the range: its start
])
def test_minute_and_hour_fields(expression, expected):
    assert [time[11:16] for time in fire_times(expression)] == expected


@pytest.mark.parametrize("expression, expected", [
    ("* * * * * *", ["00:00:01", "00:00:02", "00:00:03", "00:00:04"]),
    ("*/20 * * * * *", ["00:00:20", "00:00:40", "00:01:00", "00:01:20"]),
    ("30 0 * * * *", ["00:00:30", "01:00:30", "02:00:30", "03:00:30"]),
    ("0 0 12 * * *", ["12:00:00", "12:00:00", "12:00:00", "12:00:00"]),
])
def test_six_fields_put_seconds_first(expression, expected):
    assert [time[11:19] for time in fire_times(expression)] == expected


@pytest.mark.parametrize("expression, expected", [
    ("0 0 1 * *", ["2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01"]),
    ("0 0 L * *", ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]),
    ("0 0 L,15 * *", ["2024-01-15", "2024-01-31", "2024-02-15", "2024-02-29"]),
    ("0 0 28-L/2 * *", ["2024-01-28", "2024-01-30", "2024-02-28", "2024-03-28"]),
    ("0 0 30-2 * *", ["2024-01-02", "2024-01-30", "2024-01-31", "2024-02-01"]),
    ("0 0 15W * *", ["2024-01-15", "2024-02-15", "2024-03-15", "2024-04-15"]),
    ("0 0 W16 * *", ["2024-01-16", "2024-02-16", "2024-03-15", "2024-04-16"]),  # Mar 16 is a Saturday
    ("0 0 1W * *", ["2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01"]),
    ("0 0 1W 6 *", ["2024-06-03", "2025-06-02", "2026-06-01", "2027-06-01"]),  # never into May
    ("0 0 31W * *", ["2024-01-31", "2024-02-29", "2024-03-29", "2024-04-30"]),  # clamped to the month
    ("0 0 ? * ?", ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]),
    ("0 0 29 2 *", ["2024-02-29", "2028-02-29", "2032-02-29", "2036-02-29"]),
])
def test_day_of_month_field(expression, expected):
    assert [time[:10] for time in fire_times(expression)] == expected


@pytest.mark.parametrize("expression, expected", [
    ("0 0 * * 1", ["2024-01-08", "2024-01-15", "2024-01-22", "2024-01-29"]),
    ("0 0 * * 0", ["2024-01-07", "2024-01-14", "2024-01-21", "2024-01-28"]),
    ("0 0 * * 7", ["2024-01-07", "2024-01-14", "2024-01-21", "2024-01-28"]),
    ("0 0 * * 5-7", ["2024-01-05", "2024-01-06", "2024-01-07", "2024-01-12"]),
    ("0 0 * * SAT-sun", ["2024-01-06", "2024-01-07", "2024-01-13", "2024-01-14"]),
    ("0 0 * * fri-mon", ["2024-01-05", "2024-01-06", "2024-01-07", "2024-01-08"]),
    ("0 0 * * Mon-Fri/2", ["2024-01-03", "2024-01-05", "2024-01-08", "2024-01-10"]),
    ("0 0 * * */3", ["2024-01-03", "2024-01-06", "2024-01-07", "2024-01-10"]),
    ("0 0 * * 0-7", ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]),
    ("0 0 * * fri#3", ["2024-01-19", "2024-02-16", "2024-03-15", "2024-04-19"]),
    ("0 0 * * 5#5", ["2024-03-29", "2024-05-31", "2024-08-30", "2024-11-29"]),
    ("0 0 * * 1#2,2#3", ["2024-01-08", "2024-01-16", "2024-02-12", "2024-02-20"]),
    ("0 0 * * mon-wed#1", ["2024-01-02", "2024-01-03", "2024-02-05", "2024-02-06"]),
    ("0 0 * * L5", ["2024-01-26", "2024-02-23", "2024-03-29", "2024-04-26"]),
    ("0 0 * * l7", ["2024-01-28", "2024-02-25", "2024-03-31", "2024-04-28"]),
    ("0 0 ? * L1,1#1", ["2024-01-29", "2024-02-05", "2024-02-26", "2024-03-04"]),
])
def test_day_of_week_field(expression, expected):
    assert [time[:10] for time in fire_times(expression)] == expected


@pytest.mark.parametrize("expression, expected", [
    ("0 0 1 jan *", ["2025-01-01", "2026-01-01", "2027-01-01", "2028-01-01"]),
    ("0 0 1 JAN-mar *", ["2024-02-01", "2024-03-01", "2025-01-01", "2025-02-01"]),
    ("0 0 1 */4 *", ["2024-05-01", "2024-09-01", "2025-01-01", "2025-05-01"]),
    ("0 0 1 feb/5 *", ["2024-02-01", "2024-07-01", "2024-12-01", "2025-02-01"]),
    ("0 0 1 nov-feb *", ["2024-02-01", "2024-11-01", "2024-12-01", "2025-01-01"]),
    ("0 0 1 dec-feb/2 *", ["2024-02-01", "2024-12-01", "2025-02-01", "2025-12-01"]),  # croniter: Dec only
])
def test_month_field(expression, expected):
    assert [time[:10] for time in fire_times(expression)] == expected


@pytest.mark.parametrize("expression, expected", [
    ("0 0 1 * 1", ["2024-01-08", "2024-01-15", "2024-01-22", "2024-01-29"]),  # Jan 1 is the start
    ("0 0 13 * 5", ["2024-01-05", "2024-01-12", "2024-01-13", "2024-01-19"]),
    ("0 0 L * 0", ["2024-01-07", "2024-01-14", "2024-01-21", "2024-01-28"]),
    ("0 0 */10 * 1", ["2024-01-08", "2024-01-11", "2024-01-15", "2024-01-21"]),
    ("0 0 1-31 * 3", ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]),  # OR: every day
    ("0 0 */1 * 3", ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]),
    ("0 0 1-31 * */3", ["2024-01-03", "2024-01-06", "2024-01-07", "2024-01-10"]),  # a '*': AND
    ("0 0 13 * 0-6", ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]),
    ("0 0 13 * ?", ["2024-01-13", "2024-02-13", "2024-03-13", "2024-04-13"]),
    ("0 0 31 2 1", ["2024-02-05", "2024-02-12", "2024-02-19", "2024-02-26"]),
])
def test_restricted_day_fields_fire_on_either(expression, expected):
    assert [time[:10] for time in fire_times(expression)] == expected


@pytest.mark.parametrize("alias, expression", [
    ("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *"), ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"), ("@Daily", "0 0 * * *"), (" @hourly ", "0 * * * *"),
])
def test_aliases(alias, expression):
    assert fire_times(alias) == fire_times(expression)


def test_equal_range_is_one_value():
    # croniter reads an equal range as the whole cycle; cron and we read it as the value.
    assert fire_times("5-5 * * * *")[:2] == ["2024-01-01T00:05:00+00:00", "2024-01-01T01:05:00+00:00"]
    assert fire_times("0 0 * * 7-0")[0].startswith("2024-01-07")


# ---- Errors ----

@pytest.mark.parametrize("expression, message", [
    ("0 0 32 * *", "cron field 'day of month' in '0 0 32 * *': 32 is out of range 1-31"),
    ("60 * * * *", "cron field 'minute' in '60 * * * *': 60 is out of range 0-59"),
    ("60 * * * * *", "cron field 'second' in '60 * * * * *': 60 is out of range 0-59"),
    ("0 24 * * *", "cron field 'hour' in '0 24 * * *': 24 is out of range 0-23"),
    ("0 0 * 13 *", "cron field 'month' in '0 0 * 13 *': 13 is out of range 1-12"),
    ("0 0 0 * *", "'day of month' in '0 0 0 * *': 0 is out of range 1-31"),
    ("0 0 * * 8", "'day of week' in '0 0 * * 8': 8 is out of range 0-7"),
    ("0 0 * * L8", "8 is out of range 0-7"),
    ("0 0 * 1-13 *", "13 is out of range 1-12"),
    ("* * * *", "has 4 fields; write 5 (minute hour day-of-month month day-of-week) or 6"),
    ("* * * * * * *", "has 7 fields"),
    ("", "has 0 fields"),
    ("@reboot", "cron alias '@reboot' is unknown; use one of @yearly"),
    ("*/0 * * * *", "'minute' in '*/0 * * * *': '*/0' has step 0; use a step of 1 or more"),
    ("5/0 * * * *", "has step 0"),
    ("-1 * * * *", "'-1' is not a value, range or step; write N, A-B, */S, A-B/S or N/S"),
    ("1- * * * *", "is not a value, range or step"),
    ("*/5/2 * * * *", "is not a value, range or step"),
    ("1-2-3 * * * *", "is not a value, range or step"),
    ("*-5 * * * *", "is not a value, range or step"),
    ("a * * * *", "'minute' in 'a * * * *': 'a' is not a number"),
    ("0 0 * foo *", "'foo' is not a number or a month name like 'jan'"),
    ("0 0 * * jan", "'jan' is not a number or a day of week name like 'sun'"),
    ("0 0 * mon *", "'mon' is not a number or a month name"),
    ("R * * * *", "'R' (a hashed or random value) is not supported"),
    ("H * * * *", "'H' (a hashed or random value) is not supported"),
    ("? * * * *", "'minute' in '? * * * *': '?' may only stand alone in day of month or day of week"),
    ("0 0 ?,1 * *", "'?' may only stand alone"),
    ("0 0 * ? *", "'month' in '0 0 * ? *': '?' may only stand alone"),
    ("0 0 L-2 * *", "'L-2' is not supported; 'L' may stand alone or end a range, as in '15-L'"),
    ("0 0 LW * *", "'LW' is not supported"),
    ("0 0 L/2 * *", "'L/2' is not supported"),
    ("0 0 1,15W * *", "'day of month' in '0 0 1,15W * *': '15W' must stand alone"),
    ("0 0 0W * *", "0 is out of range 1-31"),
    ("0 0 32W * *", "32 is out of range 1-31"),
    ("0 0 * * 5L", "'5L' is not supported; write 'L' before the weekday, as in 'L5'"),
    ("0 0 * * L", "'L' is not supported; write 'L' before the weekday"),
    ("0 0 * * 5#6", "'5#6' must be a weekday or weekday range, '#' and a week from 1 to 5"),
    ("0 0 * * 5#0", "a week from 1 to 5"),
    ("0 0 * * */2#2", "a week from 1 to 5"),
    ("0 0 * * mon#", "a week from 1 to 5"),
    ("0 0 * * 1#2,3", "cannot mix plain weekdays with '#' or 'L' weekdays"),
    ("0 0 * * L5,mon", "cannot mix plain weekdays"),
    ("0 0 1 * 1#3", "'day of month' in '0 0 1 * 1#3': cannot be restricted together with a '#'"),
    ("0 0 L * L5", "cannot be restricted together with a '#' or 'L' day of week"),
    ("0 0 15W * 1", "'day of week' in '0 0 15W * 1': cannot be restricted together with a 'W'"),
    ("0 0 31 2 *", "cron expression '0 0 31 2 *' can never fire"),
    ("0 0 30 2 *", "can never fire"),
    ("0 0 0 31 2 *", "can never fire"),
    ("0 0 31 4,6,9,11 *", "can never fire"),
    ("0 0 30,31 feb *", "can never fire"),
    ("0 0 * 2 ? ", None),  # the control: February itself is fine
])
def test_errors_name_the_field_and_the_fix(expression, message):
    if message is None:
        _parse_cron(expression)
        return
    with pytest.raises(ValueError) as error:
        _parse_cron(expression)
    assert message in str(error.value)


def test_never_firing_expressions_agree_with_croniter():
    for expression in ["0 0 31 2 *", "0 0 0 30 2 *", "0 0 31 4 *"]:
        with pytest.raises(CroniterBadDateError):
            croniter_times(expression, START, 1)


def test_errors_are_plain_value_errors():
    with pytest.raises(ValueError):
        _parse_cron("not a cron")


# ---- Time zones ----

def local_times(expression, start, count):
    """Fire times as local 'HH:MM:SS+offset' strings, the way DBOS builds workflow ids."""
    return [time[11:] for time in fire_times(expression, start, count)]


def test_spring_forward_moves_a_missing_time_to_the_gap_end():
    start = datetime(2024, 3, 10, tzinfo=NEW_YORK)
    assert local_times("30 2 * * *", start, 2) == ["03:00:00-04:00", "02:30:00-04:00"]
    assert local_times("15 0-3 * * *", start, 4) == [
        "00:15:00-05:00", "01:15:00-05:00", "03:00:00-04:00", "03:15:00-04:00"]
    assert local_times("0 */2 * * *", start, 2) == ["03:00:00-04:00", "04:00:00-04:00"]
    # The shift is by whole minutes, so the seconds survive, as in croniter.
    assert local_times("15 30 2 * * *", start, 1) == ["03:00:15-04:00"]
    # Only the first missing time fires: the rest of the gap is behind the clock.
    assert local_times("* * 2 * * *", datetime(2024, 3, 10, 1, 58, tzinfo=NEW_YORK), 2) == [
        "03:00:00-04:00", "02:00:00-04:00"]


def test_spring_forward_skips_a_missing_time_when_every_hour_fires():
    start = datetime(2024, 3, 10, 1, 0, tzinfo=NEW_YORK)
    assert local_times("30 * * * *", start, 2) == ["01:30:00-05:00", "03:30:00-04:00"]
    assert local_times("*/30 * * * *", start, 3) == ["01:30:00-05:00", "03:00:00-04:00", "03:30:00-04:00"]
    start = datetime(2024, 3, 31, tzinfo=LONDON)
    assert local_times("*/30 * * * *", start, 3) == ["00:30:00+00:00", "02:00:00+01:00", "02:30:00+01:00"]


def test_fall_back_fires_a_repeated_time_twice():
    start = datetime(2024, 11, 3, tzinfo=NEW_YORK)
    assert local_times("30 1 * * *", start, 3) == ["01:30:00-04:00", "01:30:00-05:00", "01:30:00-05:00"]
    assert local_times("*/30 * * * *", start, 6) == [
        "00:30:00-04:00", "01:00:00-04:00", "01:30:00-04:00",
        "01:00:00-05:00", "01:30:00-05:00", "02:00:00-05:00"]
    start = datetime(2024, 10, 27, tzinfo=LONDON)
    assert local_times("0 * * * *", start, 3) == ["01:00:00+01:00", "01:00:00+00:00", "02:00:00+00:00"]


def test_fall_back_from_inside_the_repeated_hour():
    first_pass = datetime(2024, 11, 3, 1, 50, tzinfo=NEW_YORK)
    second_pass = first_pass.replace(fold=1)
    assert local_times("30 * * * *", first_pass, 2) == ["01:30:00-05:00", "02:30:00-05:00"]
    assert local_times("30 * * * *", second_pass, 1) == ["02:30:00-05:00"]
    assert local_times("10,55 0,1 * * *", first_pass, 3) == [
        "01:55:00-04:00", "01:10:00-05:00", "01:55:00-05:00"]
    assert local_times("*/10 * * * * *", second_pass, 1) == ["01:50:10-05:00"]


def test_results_keep_the_zone_of_the_moment():
    moment = datetime(2024, 6, 1, 12, 0, tzinfo=KOLKATA)
    result = _parse_cron("0 13 * * *").next_after(moment)
    assert result.tzinfo is KOLKATA and result.isoformat() == "2024-06-01T13:00:00+05:30"


def test_a_naive_moment_is_utc():
    result = _parse_cron("0 0 * * *").next_after(datetime(2024, 1, 1, 12))
    assert result == datetime(2024, 1, 2, tzinfo=UTC) and result.utcoffset() == timedelta(0)


def test_next_after_is_strictly_after():
    cron = _parse_cron("* * * * * *")
    moment = datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert cron.next_after(moment) == datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert cron.next_after(moment.replace(microsecond=0)) == datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_times_between_excludes_both_ends():
    cron = _parse_cron("0 * * * *")
    start, end = datetime(2024, 1, 1, 0, tzinfo=UTC), datetime(2024, 1, 1, 3, tzinfo=UTC)
    assert [time.hour for time in cron.times_between(start, end)] == [1, 2]
    assert list(cron.times_between(end, start)) == []
    in_new_york = list(cron.times_between(datetime(2024, 11, 3, 0, tzinfo=NEW_YORK),
                                          datetime(2024, 11, 3, 3, tzinfo=NEW_YORK)))
    assert [time.isoformat()[11:] for time in in_new_york] == [
        "01:00:00-04:00", "01:00:00-05:00", "02:00:00-05:00"]


def _count_day_looks(monkeypatch):
    """Count how often next_after looks up a month's matching days: once per step of its walk
    from field to field, so the count says whether it jumps to the next fire or walks there.
    (What a call costs in microseconds is measured in benchmarks/bench_schedule.py.)"""
    looks = []
    day_from = MODULE._Cron._day_from
    def counted(self, year, month):
        looks.append(month)
        return day_from(self, year, month)

    monkeypatch.setattr(MODULE._Cron, "_day_from", counted)
    return looks


def test_every_second_takes_one_step_a_call(monkeypatch):
    looks = _count_day_looks(monkeypatch)
    cron, moment = _parse_cron("* * * * * *"), datetime(2024, 1, 1, tzinfo=NEW_YORK)
    for _ in range(10_000):
        moment = cron.next_after(moment)
    assert moment == datetime(2024, 1, 1, 2, 46, 40, tzinfo=NEW_YORK)
    # One step a call, and one more where a minute carries into the next (1 call in 60).
    assert len(looks) < 10_000 * 1.05


def test_rare_schedules_jump_instead_of_walking(monkeypatch):
    looks = _count_day_looks(monkeypatch)
    cron = _parse_cron("0 0 0 29 2 1")  # Feb 29 or any Monday in February
    assert cron.next_after(datetime(2024, 3, 1, tzinfo=UTC)) == datetime(2025, 2, 3, tzinfo=UTC)
    # Straight to the next February: no day of the eleven months between is looked at.
    assert set(looks) == {2} and len(looks) <= 3


# ---- Parity with croniter as DBOS calls it ----

ZONES = [None, UTC, NEW_YORK, LONDON, SYDNEY, KOLKATA]
# Around the DST changes of the zones above, where the interesting cases are.
TRANSITIONS = [datetime(2024, 3, 10, 7), datetime(2024, 11, 3, 6), datetime(2024, 3, 31, 1),
               datetime(2024, 10, 27, 1), datetime(2024, 4, 6, 16), datetime(2024, 10, 5, 16)]


def values(index):
    """Strategy for one plain value of a field, numbers or (in month and weekday) names."""
    lowest, highest, names = [(0, 59, None), (0, 59, None), (0, 23, None), (1, 31, None),
                              (1, 12, "jan feb mar apr may jun jul aug sep oct nov dec"),
                              (0, 7, "sun mon tue wed thu fri sat")][index]
    numbers = st.integers(lowest, highest)
    if names is None:
        return numbers.map(str)
    words = names.split()
    named = st.tuples(st.integers(0, len(words) - 1), st.booleans()).map(
        lambda pair: words[pair[0]].upper() if pair[1] else words[pair[0]])
    return st.one_of(numbers.map(str), named)


def number_of(index, text):
    """The number a generated value stands for."""
    names = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
             "sep": 9, "oct": 10, "nov": 11, "dec": 12} if index == 4 else {
        "sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
    return int(text) if text.isdigit() else names[text.lower()]


@st.composite
def elements(draw, index):
    """One list element in the grammar croniter and we read the same way."""
    kind = draw(st.sampled_from(["value", "range", "star step", "range step", "start step"]))
    step = draw(st.integers(1, 20))
    if kind == "star step":
        return f"*/{step}"
    first = draw(values(index))
    if kind == "value":
        return first
    if kind == "start step":
        return f"{first}/{step}"
    last = draw(values(index))
    low, high = number_of(index, first), number_of(index, last)
    # croniter takes an equal range as the whole cycle and steps a wrapping range oddly.
    if low == high or (index == 5 and low % 7 == high % 7):
        return first
    if low > high:
        return f"{first}-{last}"
    return f"{first}-{last}" + (f"/{step}" if kind == "range step" else "")


def plain_field(index):
    """Strategy for a whole field without special characters."""
    return st.one_of(st.just("*"), st.lists(elements(index), min_size=1, max_size=3).map(",".join))


@st.composite
def expressions(draw):
    """A cron expression in the shared grammar."""
    second = draw(st.one_of(st.just("0"), plain_field(0)))
    minute, hour, month = draw(plain_field(1)), draw(plain_field(2)), draw(plain_field(4))
    day_kind = draw(st.sampled_from(["plain", "plain", "plain", "last", "nearest", "nth"]))
    day_of_month, day_of_week = draw(plain_field(3)), draw(plain_field(5))
    if day_kind == "last":
        day_of_month = draw(st.sampled_from(["L", "l", "L,15", f"{draw(st.integers(1, 30))}-L"]))
    elif day_kind == "nearest":
        day = draw(st.integers(1, 31))
        day_of_month, day_of_week = draw(st.sampled_from([f"{day}W", f"W{day}", f"{day}w"])), "*"
    elif day_kind == "nth":
        day_of_month = draw(st.sampled_from(["*", "?"]))
        nth = st.one_of(st.tuples(values(5), st.integers(1, 5)).map(lambda pair: f"{pair[0]}#{pair[1]}"),
                        st.integers(0, 7).map(lambda day: f"L{day}"))
        day_of_week = ",".join(draw(st.lists(nth, min_size=1, max_size=2)))
    if draw(st.booleans()):
        day_of_month = {"*": "?"}.get(day_of_month, day_of_month)
    fields = [minute, hour, day_of_month, month, day_of_week]
    if draw(st.booleans()):
        fields.insert(0, second)
    return " ".join(fields)


@st.composite
def start_times(draw):
    """A start moment: naive UTC or aware in a few zones, often next to a DST change."""
    zone = draw(st.sampled_from(ZONES))
    if draw(st.booleans()):
        base = draw(st.sampled_from(TRANSITIONS)) + timedelta(seconds=draw(st.integers(-129600, 129600)))
        moment = base.replace(tzinfo=UTC).astimezone(zone or UTC).replace(tzinfo=None)
    else:
        moment = draw(st.datetimes(datetime(1995, 1, 1), datetime(2060, 12, 31)))
    moment = moment.replace(microsecond=draw(st.sampled_from([0, 0, 0, 250000])))
    if zone is None:
        return moment
    return moment.replace(tzinfo=zone, fold=draw(st.integers(0, 1)))


@settings(max_examples=int(os.environ.get("CRON_EXAMPLES", 200)), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(expression=expressions(), start=start_times())
def test_next_after_matches_croniter(expression, start):
    try:
        cron = _parse_cron(expression)
    except ValueError as error:
        assert "can never fire" in str(error), error
        with pytest.raises(CroniterBadDateError):
            croniter_times(expression, start, 1)
        return
    # DBOS hands croniter aware times; a naive one it takes as UTC first.
    aware_start = start if start.tzinfo else start.replace(tzinfo=UTC)
    expected = croniter_times(expression, aware_start, 5)
    moment = start
    for wanted in expected:
        moment = cron.next_after(moment)
        assert (moment.isoformat(), moment.timestamp()) == (wanted.isoformat(), wanted.timestamp())
