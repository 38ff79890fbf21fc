//! One CSV file of a data set, read with the `csv` crate: a header row naming the columns, then
//! rows deserialized (serde) by column name, each with its line, so that every error names the
//! file, the line and the field. Columns the row type does not name are ignored; fields are
//! trimmed.

use std::collections::HashMap;
use std::fmt::Display;

use serde::de::DeserializeOwned;

use crate::pricing::DEFAULT_COUNTRY;
use crate::{Error, Result};

/// Where a row is: its file and line (the header is line 1).
#[derive(Debug, Clone, Copy)]
pub(super) struct Line {
    pub file: &'static str,
    pub number: u64,
}

impl Line {
    /// The error `what`, at this line.
    pub fn error(&self, what: impl Display) -> Error {
        Error::MerchantData(format!("{} line {}: {what}", self.file, self.number))
    }

    /// `value`, which must not be empty.
    pub fn required(&self, field: &str, value: String) -> Result<String> {
        if value.is_empty() {
            return Err(self.error(format_args!("{field} is empty")));
        }
        Ok(value)
    }

    /// `value` as a whole number of at least 0 (a quantity, or an amount in minor units).
    pub fn count(&self, field: &str, value: &str) -> Result<i64> {
        let number: i64 = value
            .parse()
            .map_err(|_| self.error(format_args!("{field} {value:?} is not an integer")))?;
        if number < 0 {
            return Err(self.error(format_args!("{field} {value:?} is negative")));
        }
        Ok(number)
    }

    /// [`Line::count`], or `None` for an empty field.
    pub fn optional_count(&self, field: &str, value: &str) -> Result<Option<i64>> {
        match value {
            "" => Ok(None),
            value => self.count(field, value).map(Some),
        }
    }

    /// `value` as a country code of a rate: an ISO 3166-1 alpha-2 code (returned in upper case)
    /// or `default`.
    pub fn rate_country(&self, field: &str, value: &str) -> Result<String> {
        if value.eq_ignore_ascii_case(DEFAULT_COUNTRY) {
            return Ok(DEFAULT_COUNTRY.to_owned());
        }
        if value.len() == 2 && value.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Ok(value.to_ascii_uppercase());
        }
        Err(self.error(format_args!(
            "{field} {value:?} is neither an ISO 3166-1 alpha-2 code nor {DEFAULT_COUNTRY}"
        )))
    }
}

/// The rows of `file`, whose header must name every one of `columns`.
pub(super) fn rows<T: DeserializeOwned>(file: &'static str, bytes: &[u8], columns: &[&str]) -> Result<Vec<(Line, T)>> {
    let header = Line { file, number: 1 };
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes);
    let headers = reader.headers().map_err(|e| csv_error(header, None, &e))?.clone();
    if let Some(missing) = columns.iter().find(|column| !headers.iter().any(|h| h == **column)) {
        return Err(header.error(format_args!(
            "no column {missing:?} (the header has {})",
            headers.iter().collect::<Vec<_>>().join(",")
        )));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(header, Some(&headers), &e))?;
        let line = Line {
            file,
            number: record.position().map_or(0, |p| p.line()),
        };
        let row = record
            .deserialize(Some(&headers))
            .map_err(|e| csv_error(line, Some(&headers), &e))?;
        rows.push((line, row));
    }
    Ok(rows)
}

/// A `csv` error as a data set error, at the line it names (else at `line`), naming the column.
fn csv_error(line: Line, headers: Option<&csv::StringRecord>, error: &csv::Error) -> Error {
    let line = Line {
        number: error.position().map_or(line.number, |p| p.line()),
        ..line
    };
    let column = |index: Option<u64>| {
        index
            .and_then(|i| headers.and_then(|h| h.get(i as usize)))
            .map_or_else(|| "a field".to_owned(), |name| name.to_owned())
    };
    match error.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            line.error(format_args!("{len} fields where the header has {expected_len}"))
        }
        csv::ErrorKind::Utf8 { err, .. } => {
            line.error(format_args!("{} is not UTF-8", column(Some(err.field() as u64))))
        }
        csv::ErrorKind::Deserialize { err, .. } => line.error(format_args!("{}: {}", column(err.field()), err.kind())),
        _ => line.error(error),
    }
}

/// The keys of a file seen so far, to refuse one named twice.
pub(super) struct Unique {
    field: &'static str,
    seen: HashMap<String, u64>,
}

impl Unique {
    pub fn new(field: &'static str) -> Unique {
        Unique {
            field,
            seen: HashMap::new(),
        }
    }

    /// Fails if `key` was seen before.
    pub fn check(&mut self, line: Line, key: &str) -> Result<()> {
        if let Some(first) = self.seen.insert(key.to_owned(), line.number) {
            return Err(line.error(format_args!("{} {key:?} repeats line {first}", self.field)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Row {
        id: String,
        #[serde(default)]
        note: String,
    }

    fn message(result: Result<Vec<(Line, Row)>>) -> String {
        result.expect_err("an error").to_string()
    }

    #[test]
    fn rows_carry_their_lines_and_ignore_unknown_columns() {
        let rows: Vec<(Line, Row)> = rows("t.csv", b"id,extra\n a ,x\n\"b\nc\",y\nd,z", &["id"]).unwrap();
        let got: Vec<(u64, &str, &str)> = rows
            .iter()
            .map(|(line, row)| (line.number, row.id.as_str(), row.note.as_str()))
            .collect();
        assert_eq!(got, [(2, "a", ""), (3, "b\nc", ""), (5, "d", "")]);
    }

    #[test]
    fn a_missing_column_is_named() {
        assert_eq!(
            message(rows("t.csv", b"name,note\nx,y\n", &["id"])),
            "merchant data is invalid: t.csv line 1: no column \"id\" (the header has name,note)"
        );
        assert!(message(rows("t.csv", b"", &["id"])).contains("t.csv line 1: no column \"id\""));
    }

    #[test]
    fn a_row_of_the_wrong_width_is_named() {
        assert_eq!(
            message(rows("t.csv", b"id,note\na,b\nc,d,e\n", &["id"])),
            "merchant data is invalid: t.csv line 3: 3 fields where the header has 2"
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_named() {
        assert_eq!(
            message(rows("t.csv", b"id,note\na,\xff\n", &["id"])),
            "merchant data is invalid: t.csv line 2: note is not UTF-8"
        );
    }

    #[test]
    fn fields_are_checked_with_their_names() {
        let line = Line {
            file: "discounts.csv",
            number: 3,
        };
        assert_eq!(
            line.count("value", "x").unwrap_err().to_string(),
            "merchant data is invalid: discounts.csv line 3: value \"x\" is not an integer"
        );
        assert!(line
            .count("value", "-5")
            .unwrap_err()
            .to_string()
            .ends_with("value \"-5\" is negative"));
        assert_eq!(line.count("value", "12").unwrap(), 12);
        assert_eq!(line.optional_count("min", "").unwrap(), None);
        assert!(line
            .required("code", String::new())
            .unwrap_err()
            .to_string()
            .ends_with("code is empty"));
        assert_eq!(line.rate_country("country_code", "us").unwrap(), "US");
        assert_eq!(line.rate_country("country_code", "DEFAULT").unwrap(), "default");
        assert!(line.rate_country("country_code", "USA").is_err());
    }

    #[test]
    fn a_repeated_key_names_its_first_line() {
        let mut ids = Unique::new("id");
        ids.check(
            Line {
                file: "t.csv",
                number: 2,
            },
            "a",
        )
        .unwrap();
        assert_eq!(
            ids.check(
                Line {
                    file: "t.csv",
                    number: 4
                },
                "a"
            )
            .unwrap_err()
            .to_string(),
            "merchant data is invalid: t.csv line 4: id \"a\" repeats line 2"
        );
    }
}
