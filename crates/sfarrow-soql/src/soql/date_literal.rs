//! SOQL date literals: `TODAY`, `LAST_N_DAYS:30`, ... Each keyword is one variant, so a query
//! engine matches them exhaustively and a keyword the parser accepts cannot go unhandled.

use std::fmt::{self, Display, Formatter};

/// A date literal: a range of days relative to today (`N` where the keyword takes one). The
/// FISCAL ones depend on the org's fiscal year; the grammar does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateLiteral {
    Yesterday,
    Today,
    Tomorrow,
    LastWeek,
    ThisWeek,
    NextWeek,
    LastMonth,
    ThisMonth,
    NextMonth,
    Last90Days,
    Next90Days,
    ThisQuarter,
    LastQuarter,
    NextQuarter,
    ThisYear,
    LastYear,
    NextYear,
    ThisFiscalQuarter,
    LastFiscalQuarter,
    NextFiscalQuarter,
    ThisFiscalYear,
    LastFiscalYear,
    NextFiscalYear,
    LastNDays(u32),
    NextNDays(u32),
    LastNWeeks(u32),
    NextNWeeks(u32),
    LastNMonths(u32),
    NextNMonths(u32),
    LastNQuarters(u32),
    NextNQuarters(u32),
    LastNYears(u32),
    NextNYears(u32),
    LastNFiscalQuarters(u32),
    NextNFiscalQuarters(u32),
    LastNFiscalYears(u32),
    NextNFiscalYears(u32),
    NDaysAgo(u32),
    NWeeksAgo(u32),
    NMonthsAgo(u32),
    NYearsAgo(u32),
}

use DateLiteral as D;

/// The keywords that stand alone, as Salesforce spells them.
pub const PLAIN_KEYWORDS: [(&str, DateLiteral); 23] = [
    ("YESTERDAY", D::Yesterday),
    ("TODAY", D::Today),
    ("TOMORROW", D::Tomorrow),
    ("LAST_WEEK", D::LastWeek),
    ("THIS_WEEK", D::ThisWeek),
    ("NEXT_WEEK", D::NextWeek),
    ("LAST_MONTH", D::LastMonth),
    ("THIS_MONTH", D::ThisMonth),
    ("NEXT_MONTH", D::NextMonth),
    ("LAST_90_DAYS", D::Last90Days),
    ("NEXT_90_DAYS", D::Next90Days),
    ("THIS_QUARTER", D::ThisQuarter),
    ("LAST_QUARTER", D::LastQuarter),
    ("NEXT_QUARTER", D::NextQuarter),
    ("THIS_YEAR", D::ThisYear),
    ("LAST_YEAR", D::LastYear),
    ("NEXT_YEAR", D::NextYear),
    ("THIS_FISCAL_QUARTER", D::ThisFiscalQuarter),
    ("LAST_FISCAL_QUARTER", D::LastFiscalQuarter),
    ("NEXT_FISCAL_QUARTER", D::NextFiscalQuarter),
    ("THIS_FISCAL_YEAR", D::ThisFiscalYear),
    ("LAST_FISCAL_YEAR", D::LastFiscalYear),
    ("NEXT_FISCAL_YEAR", D::NextFiscalYear),
];

/// How a keyword that takes an `N` makes its literal of it.
pub type WithN = fn(u32) -> DateLiteral;

/// The keywords written `KEYWORD:n`.
pub const N_KEYWORDS: [(&str, WithN); 18] = [
    ("LAST_N_DAYS", D::LastNDays),
    ("NEXT_N_DAYS", D::NextNDays),
    ("LAST_N_WEEKS", D::LastNWeeks),
    ("NEXT_N_WEEKS", D::NextNWeeks),
    ("LAST_N_MONTHS", D::LastNMonths),
    ("NEXT_N_MONTHS", D::NextNMonths),
    ("LAST_N_QUARTERS", D::LastNQuarters),
    ("NEXT_N_QUARTERS", D::NextNQuarters),
    ("LAST_N_YEARS", D::LastNYears),
    ("NEXT_N_YEARS", D::NextNYears),
    ("LAST_N_FISCAL_QUARTERS", D::LastNFiscalQuarters),
    ("NEXT_N_FISCAL_QUARTERS", D::NextNFiscalQuarters),
    ("LAST_N_FISCAL_YEARS", D::LastNFiscalYears),
    ("NEXT_N_FISCAL_YEARS", D::NextNFiscalYears),
    ("N_DAYS_AGO", D::NDaysAgo),
    ("N_WEEKS_AGO", D::NWeeksAgo),
    ("N_MONTHS_AGO", D::NMonthsAgo),
    ("N_YEARS_AGO", D::NYearsAgo),
];

impl DateLiteral {
    /// A keyword that stands alone (`TODAY`), in any case.
    pub fn plain(keyword: &str) -> Option<DateLiteral> {
        PLAIN_KEYWORDS
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(keyword))
            .map(|(_, d)| *d)
    }

    /// A keyword that takes an `N` (`LAST_N_DAYS`), in any case: what it makes of its `N`.
    pub fn with_n(keyword: &str) -> Option<WithN> {
        N_KEYWORDS
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(keyword))
            .map(|(_, make)| *make)
    }

    /// The keyword, upper case, and its `N` if it takes one.
    pub fn parts(self) -> (&'static str, Option<u32>) {
        match self {
            D::Yesterday => ("YESTERDAY", None),
            D::Today => ("TODAY", None),
            D::Tomorrow => ("TOMORROW", None),
            D::LastWeek => ("LAST_WEEK", None),
            D::ThisWeek => ("THIS_WEEK", None),
            D::NextWeek => ("NEXT_WEEK", None),
            D::LastMonth => ("LAST_MONTH", None),
            D::ThisMonth => ("THIS_MONTH", None),
            D::NextMonth => ("NEXT_MONTH", None),
            D::Last90Days => ("LAST_90_DAYS", None),
            D::Next90Days => ("NEXT_90_DAYS", None),
            D::ThisQuarter => ("THIS_QUARTER", None),
            D::LastQuarter => ("LAST_QUARTER", None),
            D::NextQuarter => ("NEXT_QUARTER", None),
            D::ThisYear => ("THIS_YEAR", None),
            D::LastYear => ("LAST_YEAR", None),
            D::NextYear => ("NEXT_YEAR", None),
            D::ThisFiscalQuarter => ("THIS_FISCAL_QUARTER", None),
            D::LastFiscalQuarter => ("LAST_FISCAL_QUARTER", None),
            D::NextFiscalQuarter => ("NEXT_FISCAL_QUARTER", None),
            D::ThisFiscalYear => ("THIS_FISCAL_YEAR", None),
            D::LastFiscalYear => ("LAST_FISCAL_YEAR", None),
            D::NextFiscalYear => ("NEXT_FISCAL_YEAR", None),
            D::LastNDays(n) => ("LAST_N_DAYS", Some(n)),
            D::NextNDays(n) => ("NEXT_N_DAYS", Some(n)),
            D::LastNWeeks(n) => ("LAST_N_WEEKS", Some(n)),
            D::NextNWeeks(n) => ("NEXT_N_WEEKS", Some(n)),
            D::LastNMonths(n) => ("LAST_N_MONTHS", Some(n)),
            D::NextNMonths(n) => ("NEXT_N_MONTHS", Some(n)),
            D::LastNQuarters(n) => ("LAST_N_QUARTERS", Some(n)),
            D::NextNQuarters(n) => ("NEXT_N_QUARTERS", Some(n)),
            D::LastNYears(n) => ("LAST_N_YEARS", Some(n)),
            D::NextNYears(n) => ("NEXT_N_YEARS", Some(n)),
            D::LastNFiscalQuarters(n) => ("LAST_N_FISCAL_QUARTERS", Some(n)),
            D::NextNFiscalQuarters(n) => ("NEXT_N_FISCAL_QUARTERS", Some(n)),
            D::LastNFiscalYears(n) => ("LAST_N_FISCAL_YEARS", Some(n)),
            D::NextNFiscalYears(n) => ("NEXT_N_FISCAL_YEARS", Some(n)),
            D::NDaysAgo(n) => ("N_DAYS_AGO", Some(n)),
            D::NWeeksAgo(n) => ("N_WEEKS_AGO", Some(n)),
            D::NMonthsAgo(n) => ("N_MONTHS_AGO", Some(n)),
            D::NYearsAgo(n) => ("N_YEARS_AGO", Some(n)),
        }
    }
}

/// `TODAY`, `LAST_N_DAYS:30`: upper case, as the parser read it.
impl Display for DateLiteral {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.parts() {
            (keyword, Some(n)) => write!(f, "{keyword}:{n}"),
            (keyword, None) => f.write_str(keyword),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_names_its_own_variant() {
        for (keyword, d) in PLAIN_KEYWORDS {
            assert_eq!(d.parts(), (keyword, None));
            assert_eq!(DateLiteral::plain(&keyword.to_lowercase()), Some(d));
            assert!(DateLiteral::with_n(keyword).is_none());
        }
        for (keyword, make) in N_KEYWORDS {
            assert_eq!(make(7).parts(), (keyword, Some(7)));
            assert!(DateLiteral::with_n(&keyword.to_lowercase()).is_some());
            assert!(DateLiteral::plain(keyword).is_none());
        }
    }
}
