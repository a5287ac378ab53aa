//! SOQL date literals (`TODAY`, `LAST_N_DAYS:30`, ...) as half-open day ranges. Every keyword
//! the parser accepts has its arm here: a new one fails to compile until it has a range.

use sfarrow_soql::formats::{civil_from_days, days_from_civil};
use sfarrow_soql::soql::DateLiteral;

fn today_days() -> i64 {
    crate::data::store::now_millis().div_euclid(86_400_000)
}

/// A date literal as a half-open day range [start, end), in UTC (the emulated user's time zone).
pub(crate) fn date_range(date: DateLiteral) -> (i64, i64) {
    range_from(today_days(), date)
}

/// The range of `date` on the day `today` (days since 1970-01-01).
///
/// The org's fiscal year is Salesforce's default, which starts in January: a fiscal quarter or
/// year is the calendar one.
fn range_from(today: i64, date: DateLiteral) -> (i64, i64) {
    use DateLiteral as D;
    let (y, m, _) = civil_from_days(today);
    // The first day of month `m` of year `y`, `m` counted on past December or before January.
    let month_start = |y: i64, m: i64| {
        let (yy, mm) = (y + (m - 1).div_euclid(12), (m - 1).rem_euclid(12) + 1);
        days_from_civil(yy, mm as u32, 1)
    };
    let m = m as i64;
    let quarter = (m - 1) / 3 * 3 + 1;
    let weekday = (today + 3).rem_euclid(7); // 0 = Monday; weeks start on Sunday in en_US
    let week_start = today - (weekday + 1) % 7;
    let quarters = |from: i64, to: i64| {
        (
            month_start(y, quarter + 3 * from),
            month_start(y, quarter + 3 * to),
        )
    };
    let years = |from: i64, to: i64| (month_start(y + from, 1), month_start(y + to, 1));
    match date {
        D::Today => (today, today + 1),
        D::Yesterday => (today - 1, today),
        D::Tomorrow => (today + 1, today + 2),
        D::LastWeek => (week_start - 7, week_start),
        D::ThisWeek => (week_start, week_start + 7),
        D::NextWeek => (week_start + 7, week_start + 14),
        D::LastMonth => (month_start(y, m - 1), month_start(y, m)),
        D::ThisMonth => (month_start(y, m), month_start(y, m + 1)),
        D::NextMonth => (month_start(y, m + 1), month_start(y, m + 2)),
        D::Last90Days => (today - 90, today + 1),
        D::Next90Days => (today + 1, today + 91),
        D::ThisQuarter | D::ThisFiscalQuarter => quarters(0, 1),
        D::LastQuarter | D::LastFiscalQuarter => quarters(-1, 0),
        D::NextQuarter | D::NextFiscalQuarter => quarters(1, 2),
        D::ThisYear | D::ThisFiscalYear => years(0, 1),
        D::LastYear | D::LastFiscalYear => years(-1, 0),
        D::NextYear | D::NextFiscalYear => years(1, 2),
        D::LastNDays(n) => (today - i64::from(n), today + 1),
        D::NextNDays(n) => (today + 1, today + i64::from(n) + 1),
        D::NDaysAgo(n) => (today - i64::from(n), today - i64::from(n) + 1),
        D::LastNWeeks(n) => (week_start - 7 * i64::from(n), week_start),
        D::NextNWeeks(n) => (week_start + 7, week_start + 7 * (i64::from(n) + 1)),
        D::NWeeksAgo(n) => {
            let start = week_start - 7 * i64::from(n);
            (start, start + 7)
        }
        D::LastNMonths(n) => (month_start(y, m - i64::from(n)), month_start(y, m)),
        D::NextNMonths(n) => (month_start(y, m + 1), month_start(y, m + i64::from(n) + 1)),
        D::NMonthsAgo(n) => (
            month_start(y, m - i64::from(n)),
            month_start(y, m - i64::from(n) + 1),
        ),
        D::LastNQuarters(n) | D::LastNFiscalQuarters(n) => quarters(-i64::from(n), 0),
        D::NextNQuarters(n) | D::NextNFiscalQuarters(n) => quarters(1, i64::from(n) + 1),
        D::LastNYears(n) | D::LastNFiscalYears(n) => years(-i64::from(n), 0),
        D::NextNYears(n) | D::NextNFiscalYears(n) => years(1, i64::from(n) + 1),
        D::NYearsAgo(n) => years(-i64::from(n), -i64::from(n) + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DateLiteral as D;

    fn day(y: i64, m: u32, d: u32) -> i64 {
        days_from_civil(y, m, d)
    }

    /// Wednesday 2024-05-15.
    fn on(date: DateLiteral) -> (i64, i64) {
        range_from(day(2024, 5, 15), date)
    }

    #[test]
    fn calendar_ranges() {
        assert_eq!(on(D::Today), (day(2024, 5, 15), day(2024, 5, 16)));
        assert_eq!(on(D::ThisWeek), (day(2024, 5, 12), day(2024, 5, 19)));
        assert_eq!(on(D::LastMonth), (day(2024, 4, 1), day(2024, 5, 1)));
        assert_eq!(on(D::ThisQuarter), (day(2024, 4, 1), day(2024, 7, 1)));
        assert_eq!(on(D::LastNDays(3)), (day(2024, 5, 12), day(2024, 5, 16)));
        assert_eq!(on(D::NWeeksAgo(2)), (day(2024, 4, 28), day(2024, 5, 5)));
        assert_eq!(on(D::NMonthsAgo(5)), (day(2023, 12, 1), day(2024, 1, 1)));
        assert_eq!(on(D::NYearsAgo(1)), (day(2023, 1, 1), day(2024, 1, 1)));
        assert_eq!(on(D::LastNQuarters(2)), (day(2023, 10, 1), day(2024, 4, 1)));
        assert_eq!(on(D::NextNQuarters(3)), (day(2024, 7, 1), day(2025, 4, 1)));
    }

    #[test]
    fn fiscal_periods_are_calendar_ones() {
        assert_eq!(on(D::ThisFiscalQuarter), on(D::ThisQuarter));
        assert_eq!(on(D::LastFiscalQuarter), (day(2024, 1, 1), day(2024, 4, 1)));
        assert_eq!(
            on(D::NextFiscalQuarter),
            (day(2024, 7, 1), day(2024, 10, 1))
        );
        assert_eq!(on(D::ThisFiscalYear), (day(2024, 1, 1), day(2025, 1, 1)));
        assert_eq!(on(D::LastFiscalYear), (day(2023, 1, 1), day(2024, 1, 1)));
        assert_eq!(on(D::NextFiscalYear), (day(2025, 1, 1), day(2026, 1, 1)));
        assert_eq!(
            on(D::LastNFiscalQuarters(5)),
            (day(2023, 1, 1), day(2024, 4, 1))
        );
        assert_eq!(
            on(D::NextNFiscalYears(2)),
            (day(2025, 1, 1), day(2027, 1, 1))
        );
        assert_eq!(on(D::LastNFiscalYears(1)), on(D::LastFiscalYear));
    }

    #[test]
    fn a_first_quarter_looks_back_into_last_year() {
        let jan = |date| range_from(day(2024, 1, 10), date);
        assert_eq!(
            jan(D::LastFiscalQuarter),
            (day(2023, 10, 1), day(2024, 1, 1))
        );
        assert_eq!(jan(D::NextNMonths(12)), (day(2024, 2, 1), day(2025, 2, 1)));
    }
}
