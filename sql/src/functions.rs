//! What S3 Select's SQL has and DataFusion lacks, as user-defined
//! functions the translated SQL calls (see translate.rs), and the mapping
//! of DataFusion's errors to S3's codes.
//!
//! - `s3_timestamp(x)`: CAST(x AS TIMESTAMP), TO_TIMESTAMP and backtick
//!   literals. S3's forms only: `2007T`, `2007-02T`, `2007-02-23[T]`,
//!   `2007-02-23T12:14Z`, `2007-02-23T12:14:33[.fff]+05:30`. A literal keeps
//!   its offset (the column's time zone) and its precision (field metadata
//!   [`TIMESTAMP_PRECISION_KEY`], which output.rs prints with); values
//!   read from the object are UTC instants printed to the second.
//! - `s3_to_string(ts, pattern)`: TO_STRING with Java-style patterns.
//! - `s3_date_add(part, n, ts)`, `s3_date_diff(part, a, b)`,
//!   `s3_extract(part, ts)`, `s3_utcnow()`.
//! - `s3_num(x)`: a CSV string compared with a number reads as a number
//!   (NULL when it is none); numbers pass through.
//! - `s3_field(x, 'name')`, `s3_index(x, i)`: JSON paths: a missing field,
//!   a non-object or an index out of range is NULL, not an error; indexes
//!   count from 0.

use std::sync::Arc;

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime, Timelike};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, Int64Builder, StringBuilder, TimestampNanosecondArray,
    UInt64Array,
};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::prelude::SessionContext;

use crate::output::{TimestampPrecision, TIMESTAMP_PRECISION_KEY};
use crate::SelectError;

/// Registers the functions on `ctx`.
pub fn register(ctx: &SessionContext) {
    for kind in [
        Kind::Timestamp,
        Kind::ToString,
        Kind::DateAdd,
        Kind::DateDiff,
        Kind::Extract,
        Kind::UtcNow,
        Kind::Num,
        Kind::Field,
        Kind::Index,
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(S3Function::new(kind)));
    }
}

/// The S3 error a DataFusion error stands for, when it is one of those
/// S3 Select names: a [`SelectError`] raised by a function here, a failed
/// CAST, an overflow.
pub fn classify(e: &DataFusionError) -> Option<SelectError> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(s) = err.downcast_ref::<SelectError>() {
            return Some(s.clone());
        }
        current = err.source();
    }
    let text = e.to_string();
    if let Some(rest) = text.split("Cannot cast string '").nth(1) {
        let value = rest.split('\'').next().unwrap_or("");
        let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
        let code = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            "IntegerOverflow"
        } else {
            "CastFailed"
        };
        return Some(SelectError::new(code, text));
    }
    if text.contains("Unsupported CAST")
        || text.contains("Cannot automatically convert")
        || text.contains("Unsupported casting")
    {
        return Some(SelectError::new("InvalidCast", text));
    }
    if text.contains("Cast error") || text.contains("Cannot cast") {
        return Some(SelectError::new("CastFailed", text));
    }
    if text.contains("overflow") {
        return Some(SelectError::new("IntegerOverflow", text));
    }
    None
}

fn err(code: &'static str, message: impl Into<String>) -> DataFusionError {
    DataFusionError::External(Box::new(SelectError::new(code, message.into())))
}

fn arg_type_error(function: &str, what: &str) -> DataFusionError {
    err(
        "IncorrectSqlFunctionArgumentType",
        format!("{function}: {what}"),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Timestamp,
    ToString,
    DateAdd,
    DateDiff,
    Extract,
    UtcNow,
    Num,
    Field,
    Index,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct S3Function {
    kind: Kind,
    signature: Signature,
}

impl S3Function {
    fn new(kind: Kind) -> Self {
        let signature = match kind {
            Kind::UtcNow => Signature::nullary(Volatility::Volatile),
            _ => Signature::variadic_any(Volatility::Immutable),
        };
        S3Function { kind, signature }
    }

    fn sql_name(&self) -> &'static str {
        match self.kind {
            Kind::Timestamp => "TO_TIMESTAMP",
            Kind::ToString => "TO_STRING",
            Kind::DateAdd => "DATE_ADD",
            Kind::DateDiff => "DATE_DIFF",
            Kind::Extract => "EXTRACT",
            Kind::UtcNow => "UTCNOW",
            Kind::Num => "a comparison",
            Kind::Field => "a path",
            Kind::Index => "an index",
        }
    }

    fn check_count(&self, n: usize) -> Result<()> {
        let want = match self.kind {
            Kind::Timestamp | Kind::Num => 1,
            Kind::ToString | Kind::Extract | Kind::Field | Kind::Index => 2,
            Kind::DateAdd | Kind::DateDiff => 3,
            Kind::UtcNow => 0,
        };
        if n == want {
            Ok(())
        } else {
            Err(arg_type_error(
                self.sql_name(),
                &format!("takes {want} arguments, not {n}"),
            ))
        }
    }
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer() || *t == DataType::Null
}

const NANOS: i64 = 1_000_000_000;

fn ts_type(tz: &str) -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some(tz.into()))
}

fn precision_field(name: &str, data_type: DataType, precision: TimestampPrecision) -> Field {
    let field = Field::new(name, data_type, true);
    if precision == TimestampPrecision::Second {
        field
    } else {
        field.with_metadata(
            [(
                TIMESTAMP_PRECISION_KEY.to_string(),
                precision.name().to_string(),
            )]
            .into(),
        )
    }
}

fn field_precision(field: &Field) -> TimestampPrecision {
    field
        .metadata()
        .get(TIMESTAMP_PRECISION_KEY)
        .and_then(|p| TimestampPrecision::from_name(p))
        .unwrap_or_default()
}

fn scalar_string(v: Option<&ScalarValue>) -> Option<&str> {
    match v? {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s),
        _ => None,
    }
}

/// A timestamp column's offset in seconds east of UTC (unknown: 0).
fn tz_offset(data_type: &DataType) -> i32 {
    match data_type {
        DataType::Timestamp(_, Some(tz)) => parse_offset(tz).unwrap_or(0),
        _ => 0,
    }
}

/// `+hh:mm` / `-hh:mm` / `Z` / `UTC`, in seconds.
fn parse_offset(tz: &str) -> Option<i32> {
    if tz == "Z" || tz.eq_ignore_ascii_case("utc") {
        return Some(0);
    }
    let b = tz.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if b.len() != 6 || b[3] != b':' {
        return None;
    }
    let h: i32 = tz.get(1..3)?.parse().ok()?;
    let m: i32 = tz.get(4..6)?.parse().ok()?;
    (h < 24 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

fn offset_name(offset: Option<i32>) -> String {
    match offset {
        None => "-00:00".into(),
        Some(s) => {
            let sign = if s < 0 { '-' } else { '+' };
            let m = s.unsigned_abs() / 60;
            format!("{sign}{:02}:{:02}", m / 60, m % 60)
        }
    }
}

/// An S3 timestamp: nanoseconds since the epoch (UTC), the offset it was
/// written with (None: none, as for dates) and its precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Timestamp {
    pub nanos: i64,
    pub offset: Option<i32>,
    pub precision: TimestampPrecision,
}

fn digits(s: &str, n: usize) -> Option<(u32, &str)> {
    let head = s.get(..n)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, &s[n..]))
}

/// Parses S3's timestamp text (the W3C note's forms, `T` after a year or
/// a month, an offset required with a time).
pub fn parse_timestamp(text: &str) -> Option<S3Timestamp> {
    let (year, rest) = digits(text, 4)?;
    let (mut month, mut day) = (1, 1);
    let (mut hour, mut minute, mut second, mut frac) = (0, 0, 0u32, 0u32);
    let mut offset = None;
    let precision;
    if rest == "T" {
        precision = TimestampPrecision::Year;
    } else {
        let (m, rest) = digits(rest.strip_prefix('-')?, 2)?;
        month = m;
        if rest == "T" {
            precision = TimestampPrecision::Month;
        } else {
            let (d, rest) = digits(rest.strip_prefix('-')?, 2)?;
            day = d;
            if rest.is_empty() || rest == "T" {
                precision = TimestampPrecision::Day;
            } else {
                let (h, rest) = digits(rest.strip_prefix('T')?, 2)?;
                let (mi, mut rest) = digits(rest.strip_prefix(':')?, 2)?;
                hour = h;
                minute = mi;
                if let Some(r) = rest.strip_prefix(':') {
                    let (s, r) = digits(r, 2)?;
                    second = s;
                    rest = r;
                    if let Some(r) = rest.strip_prefix('.') {
                        let n = r.bytes().take_while(u8::is_ascii_digit).count();
                        if n == 0 {
                            return None;
                        }
                        let mut f: String = r[..n.min(9)].to_string();
                        while f.len() < 9 {
                            f.push('0');
                        }
                        frac = f.parse().ok()?;
                        rest = &r[n..];
                    }
                    precision = TimestampPrecision::Second;
                } else {
                    precision = TimestampPrecision::Minute;
                }
                offset = Some(parse_offset(rest)?);
            }
        }
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let local = date.and_hms_nano_opt(hour, minute, second, frac)?;
    let utc = local.and_utc().timestamp_nanos_opt()?;
    let nanos = utc.checked_sub(i64::from(offset.unwrap_or(0)) * NANOS)?;
    Some(S3Timestamp {
        nanos,
        offset,
        precision,
    })
}

fn cast_failed(text: &str) -> DataFusionError {
    err(
        "CastFailed",
        format!("{text:?} is not a timestamp S3 Select reads"),
    )
}

fn local(nanos: i64, offset: i32) -> Option<NaiveDateTime> {
    let local = nanos.checked_add(i64::from(offset) * NANOS)?;
    Some(chrono::DateTime::from_timestamp_nanos(local).naive_utc())
}

fn from_local(dt: NaiveDateTime, offset: i32) -> Option<i64> {
    dt.and_utc()
        .timestamp_nanos_opt()?
        .checked_sub(i64::from(offset) * NANOS)
}

/// A date part: `year`, `month`, ... as written, case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    TimezoneHour,
    TimezoneMinute,
}

fn part(function: &str, v: Option<&ScalarValue>) -> Result<Part> {
    let name = scalar_string(v).unwrap_or("").to_ascii_lowercase();
    Ok(match name.as_str() {
        "year" => Part::Year,
        "month" => Part::Month,
        "day" => Part::Day,
        "hour" => Part::Hour,
        "minute" => Part::Minute,
        "second" => Part::Second,
        "timezone_hour" => Part::TimezoneHour,
        "timezone_minute" => Part::TimezoneMinute,
        _ => return Err(arg_type_error(function, &format!("no date part {name:?}"))),
    })
}

fn part_precision(p: Part) -> TimestampPrecision {
    match p {
        Part::Year => TimestampPrecision::Year,
        Part::Month => TimestampPrecision::Month,
        Part::Day => TimestampPrecision::Day,
        Part::Hour | Part::Minute => TimestampPrecision::Minute,
        _ => TimestampPrecision::Second,
    }
}

fn scalar_arg(args: &ScalarFunctionArgs, i: usize) -> Option<&ScalarValue> {
    match args.args.get(i)? {
        ColumnarValue::Scalar(s) => Some(s),
        ColumnarValue::Array(_) => None,
    }
}

/// Arguments as arrays of `rows` rows.
fn arrays(args: &ScalarFunctionArgs) -> Result<Vec<ArrayRef>> {
    args.args
        .iter()
        .map(|a| a.to_array(args.number_rows))
        .collect()
}

/// The result: a scalar when every argument was one.
fn result(args: &ScalarFunctionArgs, array: ArrayRef) -> Result<ColumnarValue> {
    let all_scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    if all_scalar && array.len() == 1 {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &array, 0,
        )?))
    } else {
        Ok(ColumnarValue::Array(array))
    }
}

fn timestamps(a: &ArrayRef) -> Result<TimestampNanosecondArray> {
    let t = cast(a, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
    Ok(t.as_primitive().clone())
}

impl ScalarUDFImpl for S3Function {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Timestamp => "s3_timestamp",
            Kind::ToString => "s3_to_string",
            Kind::DateAdd => "s3_date_add",
            Kind::DateDiff => "s3_date_diff",
            Kind::Extract => "s3_extract",
            Kind::UtcNow => "s3_utcnow",
            Kind::Num => "s3_num",
            Kind::Field => "s3_field",
            Kind::Index => "s3_index",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Err(DataFusionError::Internal(
            "return_field_from_args is used".into(),
        ))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let f = args.arg_fields;
        self.check_count(f.len())?;
        let name = self.name();
        let types: Vec<&DataType> = f.iter().map(|f| f.data_type()).collect();
        let is_ts = |t: &DataType| matches!(t, DataType::Timestamp(_, _) | DataType::Null);
        let field = match self.kind {
            Kind::Timestamp => match types[0] {
                t if is_string(t) => match scalar_string(args.scalar_arguments[0]) {
                    Some(text) => {
                        let ts = parse_timestamp(text).ok_or_else(|| cast_failed(text))?;
                        precision_field(name, ts_type(&offset_name(ts.offset)), ts.precision)
                    }
                    None => Field::new(name, ts_type("+00:00"), true),
                },
                DataType::Timestamp(_, tz) => {
                    let tz = tz.as_deref().unwrap_or("+00:00");
                    precision_field(name, ts_type(tz), field_precision(&f[0]))
                }
                DataType::Null => Field::new(name, ts_type("+00:00"), true),
                other => {
                    return Err(err(
                        "InvalidCast",
                        format!("{other} cannot be cast to TIMESTAMP"),
                    ))
                }
            },
            Kind::ToString => {
                if !is_ts(types[0]) || !(is_string(types[1]) || *types[1] == DataType::Null) {
                    return Err(arg_type_error(
                        "TO_STRING",
                        "takes a timestamp and a pattern",
                    ));
                }
                Field::new(name, DataType::Utf8, true)
            }
            Kind::DateAdd => {
                let p = part("DATE_ADD", args.scalar_arguments[0])?;
                if !is_integer(types[1]) || !is_ts(types[2]) {
                    return Err(arg_type_error(
                        "DATE_ADD",
                        "takes a date part, an integer and a timestamp",
                    ));
                }
                if matches!(p, Part::TimezoneHour | Part::TimezoneMinute) {
                    return Err(arg_type_error("DATE_ADD", "cannot add to a time zone"));
                }
                let tz = match types[2] {
                    DataType::Timestamp(_, Some(tz)) => tz.to_string(),
                    _ => "+00:00".into(),
                };
                let precision = field_precision(&f[2]).max(part_precision(p));
                precision_field(name, ts_type(&tz), precision)
            }
            Kind::DateDiff => {
                let p = part("DATE_DIFF", args.scalar_arguments[0])?;
                if !is_ts(types[1]) || !is_ts(types[2]) {
                    return Err(arg_type_error(
                        "DATE_DIFF",
                        "takes a date part and two timestamps",
                    ));
                }
                if matches!(p, Part::TimezoneHour | Part::TimezoneMinute) {
                    return Err(arg_type_error("DATE_DIFF", "no time zone differences"));
                }
                Field::new(name, DataType::Int64, true)
            }
            Kind::Extract => {
                part("EXTRACT", args.scalar_arguments[0])?;
                if !is_ts(types[1]) {
                    return Err(arg_type_error("EXTRACT", "takes a timestamp"));
                }
                Field::new(name, DataType::Int64, true)
            }
            Kind::UtcNow => Field::new(name, ts_type("+00:00"), false),
            Kind::Num => {
                if is_string(types[0]) {
                    Field::new(name, DataType::Float64, true)
                } else {
                    Field::new(name, types[0].clone(), true)
                }
            }
            Kind::Field => match (types[0], scalar_string(args.scalar_arguments[1])) {
                (DataType::Struct(fields), Some(key)) => match child_index(fields, key) {
                    Some(i) => fields[i]
                        .as_ref()
                        .clone()
                        .with_name(name)
                        .with_nullable(true),
                    None => Field::new(name, DataType::Null, true),
                },
                _ => Field::new(name, DataType::Null, true),
            },
            Kind::Index => {
                if !is_integer(types[1]) {
                    return Err(arg_type_error("an index", "must be an integer"));
                }
                match types[0] {
                    DataType::List(item)
                    | DataType::LargeList(item)
                    | DataType::FixedSizeList(item, _) => {
                        item.as_ref().clone().with_name(name).with_nullable(true)
                    }
                    _ => Field::new(name, DataType::Null, true),
                }
            }
        };
        Ok(Arc::new(field))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        match self.kind {
            Kind::UtcNow => {
                let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
                Ok(ColumnarValue::Scalar(ScalarValue::TimestampNanosecond(
                    Some(now),
                    Some("+00:00".into()),
                )))
            }
            Kind::Timestamp => {
                let out_type = args.return_field.data_type().clone();
                let a = args.args[0].to_array(rows)?;
                let values: TimestampNanosecondArray = if is_string(a.data_type()) {
                    let s = cast(&a, &DataType::Utf8)?;
                    let s = s.as_string::<i32>();
                    let mut v = Vec::with_capacity(s.len());
                    for i in 0..s.len() {
                        if s.is_null(i) {
                            v.push(None);
                        } else {
                            let text = s.value(i);
                            let ts = parse_timestamp(text).ok_or_else(|| cast_failed(text))?;
                            v.push(Some(ts.nanos));
                        }
                    }
                    TimestampNanosecondArray::from(v)
                } else if *a.data_type() == DataType::Null {
                    TimestampNanosecondArray::new_null(a.len())
                } else {
                    timestamps(&a)?
                };
                let tz = match &out_type {
                    DataType::Timestamp(_, tz) => tz.clone(),
                    _ => None,
                };
                result(&args, Arc::new(values.with_timezone_opt(tz)))
            }
            Kind::Num => {
                let a = args.args[0].to_array(rows)?;
                if !is_string(a.data_type()) {
                    return Ok(args.args[0].clone());
                }
                let s = cast(&a, &DataType::Utf8)?;
                let s = s.as_string::<i32>();
                let v: datafusion::arrow::array::Float64Array = s
                    .iter()
                    .map(|x| x.and_then(|x| x.trim().parse::<f64>().ok()))
                    .collect();
                result(&args, Arc::new(v))
            }
            Kind::ToString => {
                let a = arrays(&args)?;
                let offset = tz_offset(args.arg_fields[0].data_type());
                let ts = timestamps(&a[0])?;
                let p = cast(&a[1], &DataType::Utf8)?;
                let p = p.as_string::<i32>();
                let mut out = StringBuilder::new();
                for i in 0..rows {
                    if ts.is_null(i) || p.is_null(i) {
                        out.append_null();
                        continue;
                    }
                    let dt = local(ts.value(i), offset)
                        .ok_or_else(|| err("CastFailed", "timestamp out of range"))?;
                    out.append_value(to_string(dt, offset, p.value(i))?);
                }
                result(&args, Arc::new(out.finish()))
            }
            Kind::DateAdd => {
                let p = part("DATE_ADD", scalar_arg(&args, 0))?;
                let a = arrays(&args)?;
                let n = cast(&a[1], &DataType::Int64)?;
                let n = n.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                let ts = timestamps(&a[2])?;
                let offset = tz_offset(args.arg_fields[2].data_type());
                let mut v = Vec::with_capacity(rows);
                for i in 0..rows {
                    if ts.is_null(i) || n.is_null(i) {
                        v.push(None);
                        continue;
                    }
                    v.push(Some(
                        date_add(p, n.value(i), ts.value(i), offset).ok_or_else(|| {
                            err("IntegerOverflow", "DATE_ADD is out of the timestamp range")
                        })?,
                    ));
                }
                let tz = match args.return_field.data_type() {
                    DataType::Timestamp(_, tz) => tz.clone(),
                    _ => None,
                };
                result(
                    &args,
                    Arc::new(TimestampNanosecondArray::from(v).with_timezone_opt(tz)),
                )
            }
            Kind::DateDiff => {
                let p = part("DATE_DIFF", scalar_arg(&args, 0))?;
                let a = arrays(&args)?;
                let (x, y) = (timestamps(&a[1])?, timestamps(&a[2])?);
                let (ox, oy) = (
                    tz_offset(args.arg_fields[1].data_type()),
                    tz_offset(args.arg_fields[2].data_type()),
                );
                let mut out = Int64Builder::new();
                for i in 0..rows {
                    if x.is_null(i) || y.is_null(i) {
                        out.append_null();
                        continue;
                    }
                    out.append_option(date_diff(p, x.value(i), ox, y.value(i), oy));
                }
                result(&args, Arc::new(out.finish()))
            }
            Kind::Extract => {
                let p = part("EXTRACT", scalar_arg(&args, 0))?;
                let a = arrays(&args)?;
                let ts = timestamps(&a[1])?;
                let offset = tz_offset(args.arg_fields[1].data_type());
                let v: Int64Array = (0..rows)
                    .map(|i| {
                        if ts.is_null(i) {
                            return None;
                        }
                        let dt = local(ts.value(i), offset)?;
                        Some(match p {
                            Part::Year => i64::from(dt.year()),
                            Part::Month => i64::from(dt.month()),
                            Part::Day => i64::from(dt.day()),
                            Part::Hour => i64::from(dt.hour()),
                            Part::Minute => i64::from(dt.minute()),
                            Part::Second => i64::from(dt.second()),
                            Part::TimezoneHour => i64::from(offset / 3600),
                            Part::TimezoneMinute => i64::from(offset / 60 % 60),
                        })
                    })
                    .collect();
                result(&args, Arc::new(v))
            }
            Kind::Field => {
                if *args.return_field.data_type() == DataType::Null {
                    return Ok(ColumnarValue::Scalar(ScalarValue::Null));
                }
                let key = scalar_string(scalar_arg(&args, 1))
                    .unwrap_or("")
                    .to_string();
                let a = args.args[0].to_array(rows)?;
                let s = a.as_struct();
                let i = child_index(s.fields(), &key)
                    .ok_or_else(|| DataFusionError::Internal(format!("no field {key}")))?;
                let child = s.column(i);
                let nulls = datafusion::arrow::buffer::NullBuffer::union(s.nulls(), child.nulls());
                let data = child.to_data().into_builder().nulls(nulls).build()?;
                result(&args, datafusion::arrow::array::make_array(data))
            }
            Kind::Index => {
                if *args.return_field.data_type() == DataType::Null {
                    return Ok(ColumnarValue::Scalar(ScalarValue::Null));
                }
                let a = arrays(&args)?;
                let idx = cast(&a[1], &DataType::Int64)?;
                let idx = idx.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                let list = cast(
                    &a[0],
                    &DataType::LargeList(Arc::new(Field::new_list_field(
                        args.return_field.data_type().clone(),
                        true,
                    ))),
                )?;
                let list = list.as_list::<i64>();
                let offsets = list.value_offsets();
                let picks: UInt64Array = (0..rows)
                    .map(|r| {
                        if list.is_null(r) || idx.is_null(r) {
                            return None;
                        }
                        let i = idx.value(r);
                        let (start, end) = (offsets[r], offsets[r + 1]);
                        (i >= 0 && i < end - start).then(|| (start + i) as u64)
                    })
                    .collect();
                let values = take(list.values().as_ref(), &picks, None)?;
                result(&args, values)
            }
        }
    }
}

fn child_index(fields: &datafusion::arrow::datatypes::Fields, key: &str) -> Option<usize> {
    if let Some(i) = fields.iter().position(|f| f.name() == key) {
        return Some(i);
    }
    let matches: Vec<usize> = fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.name().eq_ignore_ascii_case(key))
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

fn date_add(p: Part, n: i64, nanos: i64, offset: i32) -> Option<i64> {
    let unit = match p {
        Part::Year | Part::Month => {
            let months = if p == Part::Year {
                n.checked_mul(12)?
            } else {
                n
            };
            let dt = local(nanos, offset)?;
            let m = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
            let moved = if months >= 0 {
                dt.checked_add_months(m)?
            } else {
                dt.checked_sub_months(m)?
            };
            return from_local(moved, offset);
        }
        Part::Day => 86_400 * NANOS,
        Part::Hour => 3_600 * NANOS,
        Part::Minute => 60 * NANOS,
        _ => NANOS,
    };
    nanos.checked_add(n.checked_mul(unit)?)
}

fn date_diff(p: Part, a: i64, oa: i32, b: i64, ob: i32) -> Option<i64> {
    let unit = match p {
        Part::Year | Part::Month => {
            let (x, y) = (local(a, oa)?, local(b, ob)?);
            let mut months =
                i64::from(y.year() - x.year()) * 12 + i64::from(y.month()) - i64::from(x.month());
            let rest = |d: &NaiveDateTime| (d.day(), d.num_seconds_from_midnight(), d.nanosecond());
            if months > 0 && rest(&y) < rest(&x) {
                months -= 1;
            } else if months < 0 && rest(&y) > rest(&x) {
                months += 1;
            }
            return Some(if p == Part::Year { months / 12 } else { months });
        }
        Part::Day => 86_400 * NANOS,
        Part::Hour => 3_600 * NANOS,
        Part::Minute => 60 * NANOS,
        _ => NANOS,
    };
    Some(b.checked_sub(a)? / unit)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn pad(out: &mut String, v: i64, width: usize) {
    if v < 0 {
        out.push('-');
    }
    let s = v.unsigned_abs().to_string();
    for _ in s.len()..width {
        out.push('0');
    }
    out.push_str(&s);
}

/// An offset as Java's X (`zulu`: `Z` for zero) or x patterns.
fn write_offset(out: &mut String, offset: i32, count: usize, zulu: bool) {
    if offset == 0 && zulu {
        out.push('Z');
        return;
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let m = offset.unsigned_abs() / 60;
    let (h, m) = (m / 60, m % 60);
    out.push(sign);
    out.push_str(&format!("{h:02}"));
    match count {
        1 => {
            if m != 0 {
                out.push_str(&format!("{m:02}"));
            }
        }
        2 | 4 => out.push_str(&format!("{m:02}")),
        _ => out.push_str(&format!(":{m:02}")),
    }
}

/// TO_STRING: Java DateTimeFormatter-style letters (y M d a h H m s S n X
/// x), quoted text, other characters as they are.
fn to_string(dt: NaiveDateTime, offset: i32, pattern: &str) -> Result<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        out.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                out.push(chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        i += n;
        match c {
            'y' | 'u' => {
                let y = i64::from(dt.year());
                if n == 2 {
                    pad(&mut out, y.rem_euclid(100), 2);
                } else {
                    pad(&mut out, y, n);
                }
            }
            'M' | 'L' => {
                let m = dt.month() as usize;
                let name = MONTHS[m - 1];
                match n {
                    1 | 2 => pad(&mut out, m as i64, n),
                    3 => out.push_str(&name[..3]),
                    4 => out.push_str(name),
                    _ => out.push_str(&name[..1]),
                }
            }
            'd' => pad(&mut out, i64::from(dt.day()), n),
            'H' => pad(&mut out, i64::from(dt.hour()), n),
            'h' => pad(&mut out, i64::from((dt.hour() + 11) % 12 + 1), n),
            'm' => pad(&mut out, i64::from(dt.minute()), n),
            's' => pad(&mut out, i64::from(dt.second()), n),
            'a' => out.push_str(if dt.hour() < 12 { "AM" } else { "PM" }),
            'S' => {
                let f = format!("{:09}", dt.nanosecond() % 1_000_000_000);
                let mut digits: String = f.chars().take(n.min(9)).collect();
                for _ in 9..n {
                    digits.push('0');
                }
                out.push_str(&digits);
            }
            'n' => pad(&mut out, i64::from(dt.nanosecond() % 1_000_000_000), n),
            'X' => write_offset(&mut out, offset, n, true),
            'x' => write_offset(&mut out, offset, n, false),
            other => {
                return Err(arg_type_error(
                    "TO_STRING",
                    &format!("unknown pattern letter {other:?}"),
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_timestamps() {
        let t = parse_timestamp("2007T").expect("year");
        assert_eq!(t.precision, TimestampPrecision::Year);
        assert_eq!(t.offset, None);
        let t = parse_timestamp("2007-02-23T12:14:33.079-08:00").expect("full");
        assert_eq!(t.precision, TimestampPrecision::Second);
        assert_eq!(t.offset, Some(-8 * 3600));
        assert_eq!(t.nanos % NANOS, 79_000_000);
        for bad in ["2007", "2007-02", "2007-13T", "2007-02-23T12:14", "x", ""] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
