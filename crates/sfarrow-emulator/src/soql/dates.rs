//! SOQL date literals (`TODAY`, `LAST_N_DAYS:30`, ...) as half-open day ranges.

use sfarrow_soql::formats::{civil_from_days, days_from_civil};

fn today_days() -> i64 {
    crate::data::store::now_millis().div_euclid(86_400_000)
}

/// Date keywords as half-open day ranges, in UTC (the emulated user's time zone).
pub(crate) fn date_range(keyword: &str, n: Option<i64>) -> Option<(i64, i64)> {
    let today = today_days();
    let (y, m, _) = civil_from_days(today);
    let month_start = |y: i64, m: i64| {
        let (yy, mm) = (y + (m - 1).div_euclid(12), (m - 1).rem_euclid(12) + 1);
        days_from_civil(yy, mm as u32, 1)
    };
    let m = m as i64;
    let q0 = (m - 1) / 3 * 3 + 1;
    let weekday = (today + 3).rem_euclid(7); // 0 = Monday; weeks start on Sunday in en_US
    let week_start = today - (weekday + 1) % 7;
    let n = n.unwrap_or(0);
    Some(match keyword {
        "TODAY" => (today, today + 1),
        "YESTERDAY" => (today - 1, today),
        "TOMORROW" => (today + 1, today + 2),
        "LAST_WEEK" => (week_start - 7, week_start),
        "THIS_WEEK" => (week_start, week_start + 7),
        "NEXT_WEEK" => (week_start + 7, week_start + 14),
        "LAST_MONTH" => (month_start(y, m - 1), month_start(y, m)),
        "THIS_MONTH" => (month_start(y, m), month_start(y, m + 1)),
        "NEXT_MONTH" => (month_start(y, m + 1), month_start(y, m + 2)),
        "LAST_90_DAYS" => (today - 90, today + 1),
        "NEXT_90_DAYS" => (today + 1, today + 91),
        "THIS_QUARTER" => (month_start(y, q0), month_start(y, q0 + 3)),
        "LAST_QUARTER" => (month_start(y, q0 - 3), month_start(y, q0)),
        "NEXT_QUARTER" => (month_start(y, q0 + 3), month_start(y, q0 + 6)),
        "THIS_YEAR" => (month_start(y, 1), month_start(y + 1, 1)),
        "LAST_YEAR" => (month_start(y - 1, 1), month_start(y, 1)),
        "NEXT_YEAR" => (month_start(y + 1, 1), month_start(y + 2, 1)),
        "LAST_N_DAYS" => (today - n, today + 1),
        "NEXT_N_DAYS" => (today + 1, today + n + 1),
        "N_DAYS_AGO" => (today - n, today - n + 1),
        "LAST_N_WEEKS" => (week_start - 7 * n, week_start),
        "NEXT_N_WEEKS" => (week_start + 7, week_start + 7 * (n + 1)),
        "LAST_N_MONTHS" => (month_start(y, m - n), month_start(y, m)),
        "NEXT_N_MONTHS" => (month_start(y, m + 1), month_start(y, m + n + 1)),
        "LAST_N_YEARS" => (month_start(y - n, 1), month_start(y, 1)),
        "NEXT_N_YEARS" => (month_start(y + 1, 1), month_start(y + n + 1, 1)),
        _ => return None,
    })
}
