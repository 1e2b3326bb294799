//! S3 Select SQL, checked and rewritten into SQL DataFusion runs against
//! the one table the gateway registers (`s3object`).
//!
//! S3 Select is one `SELECT ... FROM S3Object [AS] alias [WHERE ...]
//! [LIMIT n]` over one object. Everything else SQL has (GROUP BY, ORDER BY,
//! JOIN, DISTINCT, set operations, other tables) is refused with the S3
//! error code rather than quietly run. Column references are resolved
//! here, as S3 resolves them: unquoted names case-insensitively, quoted
//! ones exactly, `_N` by position; each becomes the exact, quoted column
//! name DataFusion sees.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, CastKind, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    Ident, LimitClause, ObjectNamePart, SelectItem, SetExpr, Statement, Subscript, TableFactor,
    UnaryOperator, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::jsonrows::{Shape, Step, PRESENT, ROW};
use crate::output::PRESENT_OF;
use crate::SelectError;

/// The name the object's table is registered under.
pub const TABLE: &str = "s3object";

/// A query ready for DataFusion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    /// SQL over [`TABLE`].
    pub sql: String,
    /// The LIMIT, if any (lets the reader stop early).
    pub limit: Option<u64>,
}

fn unsupported(what: &str) -> SelectError {
    SelectError::new(
        "UnsupportedSyntax",
        format!("{what} is not supported by S3 Select"),
    )
}

/// Rewrite IS [NOT] MISSING, which no SQL parser knows, outside string
/// literals and quoted names, into IS [NOT] UNKNOWN: a postfix test the
/// parser knows, with the same precedence, that S3 Select does not have
/// (written by the client, it is refused). [`shaping`] turns it into a
/// test of the operand's presence.
fn rewrite_missing(sql: &str) -> Result<String, SelectError> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while !rest.is_empty() {
        let c = rest.chars().next().unwrap_or(' ');
        if c == '\'' || c == '"' {
            // Copy a quoted run as it is.
            let end = quoted_end(rest, 0, c);
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        let upper: String = rest
            .chars()
            .take(16)
            .collect::<String>()
            .to_ascii_uppercase();
        let boundary_before = out
            .chars()
            .last()
            .is_none_or(|p| !(p.is_alphanumeric() || p == '_'));
        if boundary_before {
            let words = [
                "IS NOT MISSING",
                "IS MISSING",
                "IS NOT UNKNOWN",
                "IS UNKNOWN",
            ];
            if let Some(w) = words.iter().find(|w| upper.starts_with(**w)) {
                let after = rest[w.len()..].chars().next();
                if after.is_none_or(|a| !(a.is_alphanumeric() || a == '_')) {
                    if w.ends_with("UNKNOWN") {
                        return Err(unsupported("IS UNKNOWN"));
                    }
                    out.push_str(if w.contains("NOT") {
                        "IS NOT UNKNOWN"
                    } else {
                        "IS UNKNOWN"
                    });
                    rest = &rest[w.len()..];
                    continue;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

/// The end of the quoted run that starts at `start` with `quote` (a
/// doubled quote escapes it); the text's end when it is not closed.
fn quoted_end(text: &str, start: usize, quote: char) -> usize {
    let mut end = start + quote.len_utf8();
    loop {
        match text[end..].find(quote) {
            Some(i) => {
                end += i + quote.len_utf8();
                if text[end..].starts_with(quote) {
                    end += quote.len_utf8();
                    continue;
                }
                return end;
            }
            None => return text.len(),
        }
    }
}

/// Apply `f` to the SQL text outside string literals and quoted names.
fn map_unquoted(sql: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while !rest.is_empty() {
        let Some(start) = rest.find(['\'', '"', '`']) else {
            out.push_str(&f(rest));
            break;
        };
        out.push_str(&f(&rest[..start]));
        let quote = rest[start..].chars().next().unwrap_or('\'');
        let end = quoted_end(rest, start, quote);
        out.push_str(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

/// `TRIM(LEADING FROM x)`: S3 trims spaces when no characters are named;
/// the parser wants them named.
fn rewrite_trim(sql: &str) -> String {
    let pattern = regex::Regex::new(r"(?i-u)\b(LEADING|TRAILING|BOTH)[ \t\r\n]+FROM\b");
    match pattern {
        Ok(re) => map_unquoted(sql, |s| re.replace_all(s, "$1 ' ' FROM").into_owned()),
        Err(_) => sql.to_string(),
    }
}

/// Whether the parser stopped at a keyword (`..., found: SELECT at ...`).
fn found_keyword(text: &str) -> bool {
    let Some(found) = text.split("found: ").nth(1) else {
        return false;
    };
    let word = found.split_whitespace().next().unwrap_or("");
    datafusion::sql::sqlparser::keywords::ALL_KEYWORDS.contains(&word.to_ascii_uppercase().as_str())
}

fn parse_error(e: &datafusion::sql::sqlparser::parser::ParserError) -> SelectError {
    let text = e.to_string();
    let code = if text.contains("Expected: an expression") {
        "ParseExpectedExpression"
    } else if text.contains("found: EOF") && text.contains("FROM") {
        "ParseSelectMissingFrom"
    } else if found_keyword(&text) {
        "ParseUnExpectedKeyword"
    } else {
        "ParseUnexpectedToken"
    };
    SelectError::new(code, text)
}

/// Check `expression` and rewrite it for a table whose columns are
/// `columns` (in order), read from CSV: every column is a flat string.
pub fn translate(expression: &str, columns: &[String]) -> Result<Translated, SelectError> {
    translate_for(expression, columns, false)
}

/// As [`translate`]; with `nested` (Parquet) a column may hold objects and
/// arrays (`s.a.b`, `s.a[0]`, `FROM S3Object[*].a`) and a missing column
/// or field is NULL, not an error. `IS MISSING` is `IS NULL` here: a
/// column is there in every row or in none.
pub fn translate_for(
    expression: &str,
    columns: &[String],
    nested: bool,
) -> Result<Translated, SelectError> {
    let mut parsed = parse_checked(expression, nested)?;
    shaping(&mut parsed, false);
    finish(parsed, columns, nested, None)
}

/// How JSON records must be shaped for `expression` (see jsonrows.rs): a
/// FROM path or an IS MISSING test needs it; None when the records can be
/// read as they are.
pub fn plan_json(expression: &str) -> Result<Option<Shape>, SelectError> {
    let mut parsed = parse_checked(expression, true)?;
    Ok(shaping(&mut parsed, true))
}

/// As [`translate_for`], for JSON input read as [`plan_json`] said: with a
/// shape, `columns` are the shaped lines' (the row, presence columns);
/// `row_fields` are the row's fields when it is an object (for `*`).
pub fn translate_json(
    expression: &str,
    columns: &[String],
    row_fields: Option<&[String]>,
) -> Result<Translated, SelectError> {
    let mut parsed = parse_checked(expression, true)?;
    let shape = shaping(&mut parsed, true);
    let shaped = shape.map(|s| Shaped {
        path: s.path.is_some(),
        hidden: !s.presence.is_empty(),
        row_fields,
    });
    finish(parsed, columns, true, shaped)
}

/// The statement, checked to be S3 Select's one SELECT, with `FROM
/// S3Object` renamed to [`TABLE`].
struct Parsed {
    statement: Statement,
    limit: Option<u64>,
    alias: Option<String>,
    path: Vec<Step>,
}

/// What shaping did to a JSON query.
#[derive(Clone, Copy)]
struct Shaped<'a> {
    /// Rows are the FROM path's values, in column [`ROW`].
    path: bool,
    /// Presence columns are among the columns (not printed by `*`).
    hidden: bool,
    row_fields: Option<&'a [String]>,
}

fn parse_checked(expression: &str, nested: bool) -> Result<Parsed, SelectError> {
    let (text, path) = from_path(&rewrite_trim(&rewrite_missing(expression)?))?;
    if !path.is_empty() && !nested {
        return Err(SelectError::new(
            "InvalidKeyPath",
            "a FROM path needs JSON input",
        ));
    }
    let mut statements =
        Parser::parse_sql(&GenericDialect {}, &text).map_err(|e| parse_error(&e))?;
    if statements.len() != 1 {
        return Err(SelectError::new(
            "ParseUnexpectedToken",
            "S3 Select runs exactly one SELECT statement",
        ));
    }
    let mut statement = statements.remove(0);
    let Statement::Query(query) = &mut statement else {
        return Err(SelectError::new(
            "ParseUnsupportedSyntax",
            "S3 Select runs SELECT statements only",
        ));
    };
    if query.with.is_some() {
        return Err(unsupported("WITH"));
    }
    if query.order_by.is_some() {
        return Err(unsupported("ORDER BY"));
    }
    if query.fetch.is_some() {
        return Err(unsupported("FETCH"));
    }
    let limit = match &query.limit_clause {
        None => None,
        Some(LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) => {
            if offset.is_some() {
                return Err(unsupported("OFFSET"));
            }
            if !limit_by.is_empty() {
                return Err(unsupported("LIMIT BY"));
            }
            match limit {
                None => None,
                Some(e) => Some(limit_value(e)?),
            }
        }
        Some(LimitClause::OffsetCommaLimit { .. }) => return Err(unsupported("OFFSET")),
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Err(unsupported("UNION, INTERSECT, EXCEPT and VALUES"));
    };
    if select.distinct.is_some() {
        return Err(unsupported("DISTINCT"));
    }
    if !matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty()) {
        return Err(unsupported("GROUP BY"));
    }
    if select.having.is_some() {
        return Err(unsupported("HAVING"));
    }
    if !select.named_window.is_empty() || select.qualify.is_some() {
        return Err(unsupported("WINDOW"));
    }
    // FROM S3Object [AS] alias
    let alias = match select.from.as_mut_slice() {
        [] => {
            return Err(SelectError::new(
                "ParseSelectMissingFrom",
                "S3 Select queries need FROM S3Object",
            ))
        }
        [table] => {
            if !table.joins.is_empty() {
                return Err(unsupported("JOIN"));
            }
            let TableFactor::Table { name, alias, .. } = &mut table.relation else {
                return Err(unsupported("a subquery or table function in FROM"));
            };
            let is_s3object = matches!(name.0.as_slice(),
                [ObjectNamePart::Identifier(id)] if id.value.eq_ignore_ascii_case("s3object"));
            if !is_s3object {
                return Err(SelectError::new(
                    "InvalidDataSource",
                    format!("S3 Select reads FROM S3Object, not {name}"),
                ));
            }
            *name = datafusion::sql::sqlparser::ast::ObjectName::from(vec![Ident::new(TABLE)]);
            alias.take().map(|a| a.name.value)
        }
        _ => return Err(unsupported("more than one table")),
    };
    Ok(Parsed {
        statement,
        limit,
        alias,
        path,
    })
}

/// Names that stand for the row: the alias; without one, with a FROM path,
/// the path's last name, and `_1` (the S3 user guide: "If you don't provide
/// an alias when using wildcards, you can refer to the row using the last
/// element in the path... If the path ends in a wildcard instead of a
/// name, you can use the value _1").
fn row_names(alias: Option<&str>, path: &[Step]) -> Vec<String> {
    match alias {
        Some(a) => vec![a.to_string()],
        None if path.is_empty() => Vec::new(),
        None => {
            let mut names = vec!["_1".to_string()];
            if let Some(Step::Name { name, .. }) = path.last() {
                names.push(name.clone());
            }
            names
        }
    }
}

/// Names a column reference may be qualified with.
fn qualifiers(alias: Option<&str>, path: &[Step], nested: bool) -> Vec<String> {
    match alias {
        Some(a) => vec![a.to_string()],
        None => {
            let mut q = vec!["s3object".to_string()];
            if nested {
                q.extend(row_names(None, path));
                q.push("_1".into());
            }
            q
        }
    }
}

/// The path from the row a reference names, when it is one (a name,
/// qualified or not, then names and indexes).
fn path_of(e: &Expr, qualifiers: &[String], rows: &[String]) -> Option<Vec<Step>> {
    let is = |id: &Ident, names: &[String]| {
        id.quote_style != Some('`') && names.iter().any(|n| n.eq_ignore_ascii_case(&id.value))
    };
    let step = |id: &Ident| Step::Name {
        name: id.value.clone(),
        exact: id.quote_style == Some('"'),
    };
    match e {
        Expr::Nested(inner) => path_of(inner, qualifiers, rows),
        Expr::Identifier(id) if id.quote_style == Some('`') => None,
        Expr::Identifier(id) if is(id, rows) || is(id, qualifiers) && !rows.is_empty() => {
            Some(Vec::new())
        }
        Expr::Identifier(id) => Some(vec![step(id)]),
        Expr::CompoundIdentifier(parts) => match parts.split_first() {
            Some((q, rest)) if is(q, qualifiers) || is(q, rows) => {
                Some(rest.iter().map(step).collect())
            }
            _ => None,
        },
        Expr::CompoundFieldAccess { root, access_chain } => {
            let mut steps = match root.as_ref() {
                Expr::Identifier(q) if is(q, qualifiers) => Vec::new(),
                other => path_of(other, qualifiers, rows)?,
            };
            for a in access_chain {
                steps.push(match a {
                    AccessExpr::Dot(Expr::Identifier(id)) => step(id),
                    AccessExpr::Subscript(Subscript::Index {
                        index: Expr::Value(v),
                    }) => match &v.value {
                        Value::Number(n, _) => Step::Index(n.parse().ok()?),
                        _ => return None,
                    },
                    _ => return None,
                });
            }
            Some(steps)
        }
        _ => None,
    }
}

fn hidden_ident(name: &str) -> Ident {
    Ident::with_quote('"', name)
}

/// Turn IS [NOT] MISSING (parsed as IS [NOT] UNKNOWN) into presence tests and, with a FROM
/// path, add a presence column for each projected reference (a MISSING
/// value is left out of a JSON record). Without `json` (or when a test is
/// not of a reference) it becomes IS [NOT] NULL. Returns the shape
/// JSON records need, None when they need none. Deterministic: the
/// planning pass and the translating pass number presence columns alike.
fn shaping(parsed: &mut Parsed, json: bool) -> Option<Shape> {
    let qualifiers = qualifiers(parsed.alias.as_deref(), &parsed.path, true);
    let rows = row_names(parsed.alias.as_deref(), &parsed.path);
    let with_path = json && !parsed.path.is_empty();
    let mut presence: Vec<Vec<Step>> = Vec::new();
    if with_path {
        if let Statement::Query(query) = &mut parsed.statement {
            if let SetExpr::Select(select) = query.body.as_mut() {
                let mut hidden = Vec::new();
                for (i, item) in select.projection.iter().enumerate() {
                    let expr = match item {
                        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                        _ => continue,
                    };
                    if let Some(steps) = path_of(expr, &qualifiers, &rows) {
                        hidden.push(SelectItem::ExprWithAlias {
                            expr: Expr::Identifier(hidden_ident(&Shape::present_column(
                                presence.len(),
                            ))),
                            alias: hidden_ident(&format!("{PRESENT_OF}{i}")),
                        });
                        presence.push(steps);
                    }
                }
                select.projection.extend(hidden);
            }
        }
    }
    struct Tests<'a> {
        json: bool,
        qualifiers: &'a [String],
        rows: &'a [String],
        presence: &'a mut Vec<Vec<Step>>,
    }
    impl VisitorMut for Tests<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            let (operand, missing) = match expr {
                Expr::IsUnknown(a) => (a.as_ref().clone(), true),
                Expr::IsNotUnknown(a) => (a.as_ref().clone(), false),
                _ => return ControlFlow::Continue(()),
            };
            let steps = if self.json {
                path_of(&operand, self.qualifiers, self.rows)
            } else {
                None
            };
            *expr = match steps {
                Some(steps) => {
                    let column =
                        Expr::Identifier(hidden_ident(&Shape::present_column(self.presence.len())));
                    self.presence.push(steps);
                    if missing {
                        Expr::UnaryOp {
                            op: UnaryOperator::Not,
                            expr: Box::new(column),
                        }
                    } else {
                        column
                    }
                }
                None if missing => Expr::IsNull(Box::new(operand)),
                None => Expr::IsNotNull(Box::new(operand)),
            };
            ControlFlow::Continue(())
        }
    }
    let mut tests = Tests {
        json,
        qualifiers: &qualifiers,
        rows: if with_path { &rows } else { &[] },
        presence: &mut presence,
    };
    let _ = parsed.statement.visit(&mut tests);
    (json && (with_path || !presence.is_empty())).then(|| Shape {
        path: with_path.then(|| parsed.path.clone()),
        presence,
    })
}

/// Resolve the columns of a checked statement and rewrite it for DataFusion.
fn finish(
    parsed: Parsed,
    columns: &[String],
    nested: bool,
    shaped: Option<Shaped<'_>>,
) -> Result<Translated, SelectError> {
    let Parsed {
        mut statement,
        limit,
        ref alias,
        ref path,
    } = parsed;
    let with_path = shaped.is_some_and(|s| s.path);
    // A shaped row is column ROW; otherwise (Parquet) the path's names
    // lead from the top-level columns.
    let names: Vec<String> = if with_path {
        vec![ROW.to_string()]
    } else {
        path.iter()
            .map(|s| match s {
                Step::Name { name, .. } => Ok(name.clone()),
                _ => Err(unsupported(
                    "a wildcard or index in a FROM path over Parquet",
                )),
            })
            .collect::<Result<_, _>>()?
    };
    let qualifier_names = qualifiers(alias.as_deref(), path, nested);
    let row = if with_path {
        row_names(alias.as_deref(), path)
    } else {
        Vec::new()
    };
    let Statement::Query(query) = &mut statement else {
        return Err(SelectError::new("InternalError", "not a query"));
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Err(SelectError::new("InternalError", "not a SELECT"));
    };
    let path = &names;
    let resolver = Resolver {
        columns,
        qualifiers: &qualifier_names,
        nested,
        path,
        row: &row,
    };
    // Name unnamed expressions as S3 does (_1, _2 ... by position), so the
    // JSON output carries the same keys.
    let mut used: Vec<String> = Vec::new();
    for (i, item) in select.projection.iter_mut().enumerate() {
        match item {
            SelectItem::UnnamedExpr(expr) => {
                let name = match expr {
                    Expr::Identifier(id) if id.quote_style != Some('`') => resolver.name_of(id)?,
                    Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                        [q, id] if resolver.qualifier_ok(q) => resolver.name_of(id)?,
                        _ => format!("_{}", i + 1),
                    },
                    _ => format!("_{}", i + 1),
                };
                // Two columns of one name: the later one goes by position.
                let name = if used.contains(&name) {
                    format!("_{}", i + 1)
                } else {
                    name
                };
                used.push(name.clone());
                *item = SelectItem::ExprWithAlias {
                    expr: expr.clone(),
                    alias: Ident::with_quote('"', name),
                };
            }
            SelectItem::ExprWithAlias { alias, .. } => used.push(alias.value.clone()),
            SelectItem::QualifiedWildcard(kind, options) => {
                let text = kind.to_string();
                let qualifier = text.trim_end_matches(".*");
                if !resolver.qualifier_text_ok(qualifier) {
                    return Err(SelectError::new(
                        "InvalidTableAlias",
                        format!("{qualifier} is not the table alias"),
                    ));
                }
                if !path.is_empty() && shaped.is_none() {
                    return Err(unsupported("* with a FROM path"));
                }
                *item = SelectItem::Wildcard(options.clone());
            }
            SelectItem::Wildcard(_) if !path.is_empty() && shaped.is_none() => {
                return Err(unsupported("* with a FROM path"));
            }
            _ => {}
        }
    }
    // `*` over a shaped row: the row's fields (or the row itself, `_1`);
    // over shaped records: the columns but the presence ones.
    if let Some(shaped) = shaped.filter(|s| s.path || s.hidden) {
        let q = Ident::new(qualifier_names.first().cloned().unwrap_or_default());
        let mut items = Vec::with_capacity(select.projection.len());
        for item in select.projection.drain(..) {
            if !matches!(
                item,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            ) {
                items.push(item);
                continue;
            }
            let named = |expr: Expr, name: &str| SelectItem::ExprWithAlias {
                expr,
                alias: Ident::with_quote('"', name),
            };
            if !shaped.path {
                for c in columns.iter().filter(|c| !c.starts_with(PRESENT)) {
                    items.push(named(Expr::Identifier(Ident::with_quote('"', c)), c));
                }
                continue;
            }
            match shaped.row_fields {
                Some(fields) => {
                    for f in fields {
                        let e =
                            Expr::CompoundIdentifier(vec![q.clone(), Ident::with_quote('"', f)]);
                        items.push(named(e, f));
                    }
                }
                None => items.push(named(Expr::Identifier(Ident::new("_1")), "_1")),
            }
        }
        select.projection = items;
    }
    let mut rewriter = Rewriter {
        resolver: &resolver,
    };
    if let ControlFlow::Break(e) = statement.visit(&mut rewriter) {
        return Err(e);
    }
    Ok(Translated {
        sql: statement.to_string(),
        limit,
    })
}

/// `FROM S3Object[*].a.b`: the text with `FROM S3Object` and the path's
/// steps (the S3 user guide's FROM clause: `.name` or `['name']`,
/// `[index]`, `.*`, `[*]`); unquoted names are matched as unquoted names
/// are, quoted ones (`."Name"`, `['Name']`) exactly.
fn from_path(sql: &str) -> Result<(String, Vec<Step>), SelectError> {
    let upper = sql.to_ascii_uppercase();
    let Some(at) = upper.find("S3OBJECT[") else {
        return Ok((sql.to_string(), Vec::new()));
    };
    let after = &sql[at + "S3OBJECT".len()..];
    let Some(mut rest) = after.strip_prefix("[*]") else {
        return Err(unsupported("an index on S3Object"));
    };
    let bad = |what: &str| SelectError::new("ParseUnexpectedToken", what.to_string());
    let mut path = Vec::new();
    loop {
        if let Some(r) = rest.strip_prefix(".*") {
            path.push(Step::Members);
            rest = r;
        } else if let Some(r) = rest.strip_prefix("[*]") {
            path.push(Step::Elements);
            rest = r;
        } else if let Some(r) = rest.strip_prefix("['") {
            let end = r
                .find("']")
                .ok_or_else(|| bad("unterminated ['name'] step"))?;
            path.push(Step::Name {
                name: r[..end].to_string(),
                exact: true,
            });
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| bad("unterminated [index] step"))?;
            let index = r[..end]
                .trim()
                .parse::<usize>()
                .map_err(|_| bad("a FROM path index is a number, * or a quoted name"))?;
            path.push(Step::Index(index));
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix('.') {
            let (name, exact, r) = if let Some(q) = r.strip_prefix('"') {
                let end = q.find('"').ok_or_else(|| bad("unterminated name"))?;
                (q[..end].to_string(), true, &q[end + 1..])
            } else {
                let end = r
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(r.len());
                (r[..end].to_string(), false, &r[end..])
            };
            if name.is_empty() {
                return Err(bad("a FROM path step needs a name"));
            }
            path.push(Step::Name { name, exact });
            rest = r;
        } else {
            break;
        }
    }
    Ok((format!("{}S3Object{rest}", &sql[..at]), path))
}

fn string_lit(s: &str) -> Expr {
    Expr::value(Value::SingleQuotedString(s.to_string()))
}

/// `name(args...)` as an expression.
fn call(name: &str, args: &[Expr]) -> Result<Expr, SelectError> {
    let list: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let text = format!("{name}({})", list.join(", "));
    Parser::new(&GenericDialect {})
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SelectError::new("InternalError", format!("rewriting {text}: {e}")))
}

fn is_number(e: &Expr) -> bool {
    match e {
        Expr::Value(v) => matches!(v.value, Value::Number(..)),
        Expr::UnaryOp {
            op: UnaryOperator::Minus | UnaryOperator::Plus,
            expr,
        } => is_number(expr),
        Expr::Nested(e) => is_number(e),
        _ => false,
    }
}

fn is_literal(e: &Expr) -> bool {
    matches!(e, Expr::Value(_)) || is_number(e)
}

/// A string compared with a number reads as a number.
fn numeric(e: &mut Expr) -> Result<(), SelectError> {
    if !is_literal(e) {
        *e = call("s3_num", std::slice::from_ref(e))?;
    }
    Ok(())
}

/// The functions S3 Select has (CAST, SUBSTRING, TRIM and EXTRACT have
/// their own syntax).
const FUNCTIONS: &[&str] = &[
    "avg",
    "count",
    "max",
    "min",
    "sum",
    "coalesce",
    "nullif",
    "char_length",
    "character_length",
    "lower",
    "upper",
];

/// A LIKE pattern escaped with `escape`, rewritten for a backslash.
fn like_pattern(pattern: &str, escape: Option<char>) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push_str("\\\\"),
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

struct Rewriter<'a> {
    resolver: &'a Resolver<'a>,
}

impl VisitorMut for Rewriter<'_> {
    type Break = SelectError;

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<SelectError> {
        // Names that are not columns: path steps and date parts.
        match expr {
            Expr::CompoundFieldAccess { root, access_chain } => {
                // `s.a.b[0]`: the leading names are a path from the alias.
                let mut parts = match root.as_ref() {
                    Expr::Identifier(id) => vec![id.clone()],
                    Expr::CompoundIdentifier(ids) => ids.clone(),
                    _ => Vec::new(),
                };
                if !parts.is_empty() {
                    let names = access_chain
                        .iter()
                        .take_while(|s| matches!(s, AccessExpr::Dot(Expr::Identifier(_))))
                        .count();
                    for step in access_chain.drain(..names) {
                        if let AccessExpr::Dot(Expr::Identifier(id)) = step {
                            parts.push(id);
                        }
                    }
                    **root = if parts.len() == 1 {
                        Expr::Identifier(parts.remove(0))
                    } else {
                        Expr::CompoundIdentifier(parts)
                    };
                }
                for step in access_chain.iter_mut() {
                    if let AccessExpr::Dot(Expr::Identifier(id)) = step {
                        *step = AccessExpr::Dot(string_lit(&id.value));
                    }
                }
            }
            Expr::Function(f) => {
                let name = f.name.to_string().to_ascii_lowercase();
                if name == "date_add" || name == "date_diff" {
                    if let FunctionArguments::List(list) = &mut f.args {
                        if let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(first))) =
                            list.args.first_mut()
                        {
                            if let Expr::Identifier(id) = first {
                                *first = string_lit(&id.value.to_ascii_lowercase());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<SelectError> {
        match self.rewrite(expr) {
            Ok(Some(e)) => {
                *expr = e;
                ControlFlow::Continue(())
            }
            Ok(None) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }
}

impl Rewriter<'_> {
    fn rewrite(&self, expr: &mut Expr) -> Result<Option<Expr>, SelectError> {
        let r = self.resolver;
        Ok(Some(match expr {
            Expr::Identifier(id) if id.quote_style == Some('`') => {
                call("s3_timestamp", &[string_lit(&id.value)])?
            }
            Expr::Identifier(id) => r.column(id)?,
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [q, rest @ ..] if r.qualifier_ok(q) && !rest.is_empty() => {
                    if rest.len() > 1 && !r.nested {
                        return Err(SelectError::new(
                            "InvalidKeyPath",
                            "nested paths need JSON input",
                        ));
                    }
                    let mut e = r.column(&rest[0])?;
                    for step in &rest[1..] {
                        e = call("s3_field", &[e, string_lit(&step.value)])?;
                    }
                    e
                }
                [q, ..] => {
                    return Err(SelectError::new(
                        "InvalidTableAlias",
                        format!("{} is not the table alias", q.value),
                    ))
                }
                [] => return Ok(None),
            },
            Expr::CompoundFieldAccess { root, access_chain } => {
                if !r.nested {
                    return Err(SelectError::new(
                        "InvalidKeyPath",
                        "paths and indexes need JSON input",
                    ));
                }
                let mut e = root.as_ref().clone();
                for step in access_chain.iter() {
                    e = match step {
                        AccessExpr::Dot(name) => call("s3_field", &[e, name.clone()])?,
                        AccessExpr::Subscript(Subscript::Index { index }) => {
                            call("s3_index", &[e, index.clone()])?
                        }
                        AccessExpr::Subscript(_) => return Err(unsupported("an array slice")),
                    };
                }
                e
            }
            Expr::Cast {
                kind,
                expr: inner,
                data_type,
                ..
            } => {
                if *kind != CastKind::Cast {
                    return Err(SelectError::new(
                        "UnsupportedFunction",
                        format!("{kind:?} is not an S3 Select function"),
                    ));
                }
                use datafusion::sql::sqlparser::ast::DataType as T;
                match data_type {
                    T::Timestamp(..) | T::Datetime(_) => call("s3_timestamp", &[*inner.clone()])?,
                    T::Int(_) | T::Integer(_) | T::BigInt(_) | T::SmallInt(_) | T::TinyInt(_) => {
                        *data_type = T::BigInt(None);
                        return Ok(None);
                    }
                    T::Float(_) | T::Real | T::Double(_) | T::DoublePrecision => {
                        *data_type =
                            T::Double(datafusion::sql::sqlparser::ast::ExactNumberInfo::None);
                        return Ok(None);
                    }
                    T::Decimal(_) | T::Numeric(_) | T::Dec(_) => {
                        *data_type = T::Decimal(
                            datafusion::sql::sqlparser::ast::ExactNumberInfo::PrecisionAndScale(
                                38, 10,
                            ),
                        );
                        return Ok(None);
                    }
                    _ => return Ok(None),
                }
            }
            Expr::Extract {
                field, expr: inner, ..
            } => call(
                "s3_extract",
                &[
                    string_lit(&field.to_string().to_ascii_lowercase()),
                    *inner.clone(),
                ],
            )?,
            Expr::Function(f) => {
                let name = f.name.to_string().to_ascii_lowercase();
                let args: Vec<Expr> = match &f.args {
                    FunctionArguments::List(list) => list
                        .args
                        .iter()
                        .filter_map(|a| match a {
                            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                let internal = match name.as_str() {
                    "to_timestamp" => "s3_timestamp",
                    "to_string" => "s3_to_string",
                    "date_add" => "s3_date_add",
                    "date_diff" => "s3_date_diff",
                    "utcnow" => "s3_utcnow",
                    n if FUNCTIONS.contains(&n) => return Ok(None),
                    _ => {
                        return Err(SelectError::new(
                            "UnsupportedFunction",
                            format!("{} is not an S3 Select function", f.name),
                        ))
                    }
                };
                call(internal, &args)?
            }
            Expr::Like {
                pattern,
                escape_char,
                any: false,
                ..
            } => {
                // DataFusion escapes with a backslash only; S3 has no escape
                // but the one ESCAPE names (a backslash is a plain character).
                let escape = match escape_char.as_ref().map(|v| &v.value) {
                    None => None,
                    Some(Value::SingleQuotedString(s)) if s.chars().count() == 1 => {
                        s.chars().next()
                    }
                    Some(_) => {
                        return Err(SelectError::new(
                            "InvalidArgument",
                            "ESCAPE takes one character",
                        ))
                    }
                };
                let rewritten = match pattern.as_ref() {
                    Expr::Value(v) => match &v.value {
                        Value::SingleQuotedString(p) => Some(like_pattern(p, escape)),
                        _ => None,
                    },
                    _ => None,
                };
                if let Some(p) = rewritten {
                    **pattern = string_lit(&p);
                    *escape_char = None;
                }
                return Ok(None);
            }
            Expr::BinaryOp { left, op, right } => {
                use datafusion::sql::sqlparser::ast::BinaryOperator as B;
                if matches!(op, B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq) {
                    if is_number(right) {
                        numeric(left)?;
                    } else if is_number(left) {
                        numeric(right)?;
                    }
                }
                return Ok(None);
            }
            Expr::Between {
                expr: inner,
                low,
                high,
                ..
            } => {
                if is_number(low) || is_number(high) {
                    numeric(inner)?;
                }
                return Ok(None);
            }
            Expr::InList {
                expr: inner, list, ..
            } => {
                if list.iter().any(is_number) {
                    numeric(inner)?;
                }
                return Ok(None);
            }
            _ => return Ok(None),
        }))
    }
}

fn limit_value(e: &Expr) -> Result<u64, SelectError> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n
                .parse()
                .map_err(|_| SelectError::new("InvalidRequestParameter", format!("bad LIMIT {n}"))),
            _ => Err(SelectError::new(
                "ParseUnexpectedToken",
                "LIMIT takes a number",
            )),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            ..
        } => Err(SelectError::new(
            "EvaluatorNegativeLimit",
            "LIMIT must not be negative",
        )),
        _ => Err(SelectError::new(
            "ParseUnexpectedToken",
            "LIMIT takes a number",
        )),
    }
}

#[derive(Clone, Copy)]
struct Resolver<'a> {
    columns: &'a [String],
    /// What a column may be qualified with (the alias, or S3Object).
    qualifiers: &'a [String],
    nested: bool,
    /// The FROM path: columns are fields of this value.
    path: &'a [String],
    /// Names that stand for the row itself (a shaped FROM path's row).
    row: &'a [String],
}

impl Resolver<'_> {
    /// The expression a column name stands for: the column, a field of the
    /// FROM path, or (nested input) NULL when there is none.
    fn column(&self, id: &Ident) -> Result<Expr, SelectError> {
        if id.value.starts_with("__blobgate_") && id.quote_style == Some('"') {
            return Ok(Expr::Identifier(id.clone()));
        }
        let is_row =
            id.quote_style.is_none() && self.row.iter().any(|r| r.eq_ignore_ascii_case(&id.value));
        if let Some((first, rest)) = self.path.split_first() {
            let top = Resolver {
                path: &[],
                row: &[],
                ..*self
            };
            if is_row {
                let mut e = top.column(&Ident::new(first))?;
                for step in rest {
                    e = call("s3_field", &[e, string_lit(step)])?;
                }
                return Ok(e);
            }
            let mut e = top.column(&Ident::new(first))?;
            for step in rest.iter().chain(std::iter::once(&id.value)) {
                e = call("s3_field", &[e, string_lit(step)])?;
            }
            return Ok(e);
        }
        match self.resolve(id, true) {
            Ok(c) => Ok(Expr::Identifier(c)),
            Err(e) if self.nested && e.code == "EvaluatorBindingDoesNotExist" => {
                Ok(Expr::value(Value::Null))
            }
            Err(e) => Err(e),
        }
    }

    /// The output name of a projected column.
    fn name_of(&self, id: &Ident) -> Result<String, SelectError> {
        if !self.path.is_empty() {
            return Ok(id.value.clone());
        }
        match self.resolve(id, false) {
            Ok(c) => Ok(c.value),
            Err(e) if self.nested && e.code == "EvaluatorBindingDoesNotExist" => {
                Ok(id.value.clone())
            }
            Err(e) => Err(e),
        }
    }

    fn qualifier_ok(&self, q: &Ident) -> bool {
        self.qualifier_text_ok(&q.value)
    }

    fn qualifier_text_ok(&self, q: &str) -> bool {
        self.qualifiers.iter().any(|a| q.eq_ignore_ascii_case(a))
    }

    /// The exact column an identifier names.
    fn resolve(&self, id: &Ident, quoted_result: bool) -> Result<Ident, SelectError> {
        let make = |name: &str| {
            if quoted_result {
                Ident::with_quote('"', name)
            } else {
                Ident::new(name)
            }
        };
        if id.quote_style.is_some() {
            return match self.columns.iter().find(|c| **c == id.value) {
                Some(c) => Ok(make(c)),
                None => Err(missing(&id.value)),
            };
        }
        let matches: Vec<&String> = self
            .columns
            .iter()
            .filter(|c| c.eq_ignore_ascii_case(&id.value))
            .collect();
        match matches.as_slice() {
            [one] => return Ok(make(one)),
            [] => {}
            _ => {
                return Err(SelectError::new(
                    "AmbiguousFieldName",
                    format!("{} matches several columns", id.value),
                ))
            }
        }
        if let Some(n) = id
            .value
            .strip_prefix('_')
            .and_then(|n| n.parse::<usize>().ok())
        {
            return match n.checked_sub(1).and_then(|i| self.columns.get(i)) {
                Some(c) => Ok(make(c)),
                None => Err(SelectError::new(
                    "InvalidColumnIndex",
                    format!("column _{n} does not exist"),
                )),
            };
        }
        Err(missing(&id.value))
    }
}

fn missing(name: &str) -> SelectError {
    SelectError::new(
        "EvaluatorBindingDoesNotExist",
        format!("column {name} does not exist"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rewrites_columns_and_table() {
        let c = cols(&["Name", "age", "_x"]);
        let t = translate(
            "select s.name, AGE from S3Object s where s.age > 3 limit 2",
            &c,
        )
        .unwrap();
        assert_eq!(
            t.sql,
            r#"SELECT "Name" AS "Name", "age" AS "age" FROM s3object WHERE s3_num("age") > 3 LIMIT 2"#
        );
        assert_eq!(t.limit, Some(2));
        let t = translate("SELECT _1, upper(_2) FROM s3object", &c).unwrap();
        assert_eq!(
            t.sql,
            r#"SELECT "Name" AS "Name", upper("age") AS "_2" FROM s3object"#
        );
        let t = translate(
            "SELECT s.* FROM S3Object AS s WHERE s._2 IS NOT MISSING",
            &c,
        )
        .unwrap();
        assert_eq!(t.sql, r#"SELECT * FROM s3object WHERE "age" IS NOT NULL"#);
        let t = translate(
            r#"SELECT "Name" FROM S3Object WHERE Name = 'is missing'"#,
            &c,
        )
        .unwrap();
        assert_eq!(
            t.sql,
            r#"SELECT "Name" AS "Name" FROM s3object WHERE "Name" = 'is missing'"#
        );
    }

    #[test]
    fn refuses_what_s3_select_lacks() {
        let c = cols(&["a", "A", "b"]);
        let code = |q: &str| translate(q, &c).unwrap_err().code;
        assert_eq!(
            code("SELECT b FROM S3Object GROUP BY b"),
            "UnsupportedSyntax"
        );
        assert_eq!(
            code("SELECT b FROM S3Object ORDER BY b"),
            "UnsupportedSyntax"
        );
        assert_eq!(code("SELECT DISTINCT b FROM S3Object"), "UnsupportedSyntax");
        assert_eq!(
            code("SELECT x.b FROM S3Object s JOIN S3Object x ON s.b = x.b"),
            "UnsupportedSyntax"
        );
        assert_eq!(code("SELECT b FROM other"), "InvalidDataSource");
        assert_eq!(code("SELECT b"), "ParseSelectMissingFrom");
        assert_eq!(code("SELECT a FROM S3Object"), "AmbiguousFieldName");
        assert_eq!(
            code("SELECT c FROM S3Object"),
            "EvaluatorBindingDoesNotExist"
        );
        assert_eq!(code("SELECT _9 FROM S3Object"), "InvalidColumnIndex");
        assert_eq!(code("SELECT t.b FROM S3Object s"), "InvalidTableAlias");
        assert_eq!(
            code("SELECT b FROM S3Object LIMIT -1"),
            "EvaluatorNegativeLimit"
        );
        assert_eq!(
            code("SELECT FROM S3Object WHERE"),
            "ParseExpectedExpression"
        );
        assert_eq!(code("SELEC b FROM S3Object"), "ParseUnexpectedToken");
        assert_eq!(
            code("SELECT b FROM S3Object UNION SELECT b FROM S3Object"),
            "UnsupportedSyntax"
        );
    }
}
