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
    visit_expressions_mut, Expr, GroupByExpr, Ident, LimitClause, ObjectNamePart, SelectItem,
    SetExpr, Statement, TableFactor, UnaryOperator, Value,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

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
/// literals and quoted names. A missing field reads as NULL here.
fn rewrite_missing(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while !rest.is_empty() {
        let c = rest.chars().next().unwrap_or(' ');
        if c == '\'' || c == '"' {
            // Copy a quoted run as it is ('' and "" escape the quote).
            let mut end = c.len_utf8();
            loop {
                match rest[end..].find(c) {
                    Some(i) => {
                        end += i + 1;
                        if rest[end..].starts_with(c) {
                            end += 1;
                            continue;
                        }
                        break;
                    }
                    None => {
                        end = rest.len();
                        break;
                    }
                }
            }
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
            let words = ["IS NOT MISSING", "IS MISSING"];
            if let Some(w) = words.iter().find(|w| upper.starts_with(**w)) {
                let after = rest[w.len()..].chars().next();
                if after.is_none_or(|a| !(a.is_alphanumeric() || a == '_')) {
                    out.push_str(if w.contains("NOT") {
                        "IS NOT NULL"
                    } else {
                        "IS NULL"
                    });
                    rest = &rest[w.len()..];
                    continue;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn parse_error(e: &datafusion::sql::sqlparser::parser::ParserError) -> SelectError {
    let text = e.to_string();
    let code = if text.contains("Expected: an expression") {
        "ParseExpectedExpression"
    } else if text.contains("found: EOF") && text.contains("FROM") {
        "ParseSelectMissingFrom"
    } else {
        "ParseUnexpectedToken"
    };
    SelectError::new(code, text)
}

/// Check `expression` and rewrite it for a table whose columns are
/// `columns` (in order).
pub fn translate(expression: &str, columns: &[String]) -> Result<Translated, SelectError> {
    let text = rewrite_missing(expression);
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
    let resolver = Resolver {
        columns,
        alias: alias.as_deref(),
    };
    // Name unnamed expressions as S3 does (_1, _2 ... by position), so the
    // JSON output carries the same keys.
    let mut used: Vec<String> = Vec::new();
    for (i, item) in select.projection.iter_mut().enumerate() {
        match item {
            SelectItem::UnnamedExpr(expr) => {
                let name = match expr {
                    Expr::Identifier(id) => resolver.resolve(id, false)?.value,
                    Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                        [q, id] if resolver.qualifier_ok(q) => resolver.resolve(id, false)?.value,
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
                *item = SelectItem::Wildcard(options.clone());
            }
            _ => {}
        }
    }
    let mut failure = None;
    let _ = visit_expressions_mut(&mut statement, |expr| {
        let replaced = match expr {
            Expr::Identifier(id) => resolver.resolve(id, true).map(Some),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [q, id] if resolver.qualifier_ok(q) => resolver.resolve(id, true).map(Some),
                [q, _] => Err(SelectError::new(
                    "InvalidTableAlias",
                    format!("{} is not the table alias", q.value),
                )),
                _ => Err(SelectError::new(
                    "InvalidKeyPath",
                    "nested paths are not supported for this input",
                )),
            },
            _ => Ok(None),
        };
        match replaced {
            Ok(Some(id)) => {
                *expr = Expr::Identifier(id);
                ControlFlow::Continue(())
            }
            Ok(None) => ControlFlow::Continue(()),
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(Translated {
        sql: statement.to_string(),
        limit,
    })
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

struct Resolver<'a> {
    columns: &'a [String],
    alias: Option<&'a str>,
}

impl Resolver<'_> {
    fn qualifier_ok(&self, q: &Ident) -> bool {
        self.qualifier_text_ok(&q.value)
    }

    fn qualifier_text_ok(&self, q: &str) -> bool {
        match self.alias {
            Some(a) => q.eq_ignore_ascii_case(a),
            None => q.eq_ignore_ascii_case("s3object"),
        }
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
            r#"SELECT "Name" AS "Name", "age" AS "age" FROM s3object WHERE "age" > 3 LIMIT 2"#
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
